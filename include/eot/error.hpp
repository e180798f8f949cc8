// The library's exceptions. Only bad input throws; how a solve ended is a Status.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace eot {

// An argument breaks a rule. The message names the field, its value (or index) and the rule;
// field() and index() say the same for a program that maps them back to where the input came
// from (the command line names the file).
class InvalidArgument : public std::invalid_argument {
 public:
  explicit InvalidArgument(const std::string& message, std::string field = "", long long index = -1)
      : std::invalid_argument(message), field_(std::move(field)), index_(index) {}
  // What the rule concerns: a Problem field ("cost", "a", "b", "epsilon", "rho_a", "rho_b"),
  // "x" or "y" (a point cloud), "masses" (a and b together), an option ("initial_f",
  // "initial_g", "options"), or "" where no single input is at fault.
  const std::string& field() const { return field_; }
  // The entry concerned (a row of the cost, a point, a weight), or -1. A message about an entry
  // starts with "field(index" (e.g. "cost(3, 5) is nan: ...").
  long long index() const { return index_; }
  // The same refusal for an input whose rows start `rows` further (a block of a larger
  // input): index and message count from there.
  InvalidArgument offset_by(long long rows) const {
    if (index_ < 0) return *this;
    const std::string local = field_ + "(" + std::to_string(index_);
    std::string message = what();
    if (message.rfind(local, 0) == 0)
      message.replace(0, local.size(), field_ + "(" + std::to_string(index_ + rows));
    return InvalidArgument(message, field_, index_ + rows);
  }

 private:
  std::string field_;
  long long index_;
};

// The names of an enum's values, by its to_string (e.g. names(kMetrics)): the one list the
// parsers, their messages and the command line's choices come from.
template <typename E, std::size_t N>
std::vector<std::string> names(const E (&values)[N]) {
  std::vector<std::string> out;
  for (E value : values) out.push_back(to_string(value));
  return out;
}

// "a, b or c".
inline std::string one_of(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t k = 0; k < names.size(); ++k)
    out += (k == 0 ? "" : k + 1 == names.size() ? " or " : ", ") + names[k];
  return out;
}

// The value of `values` that to_string names `name`; else InvalidArgument("<field>: unknown
// <noun> 'name'; expected a, b or c", field).
template <typename E, std::size_t N>
E from_name(const E (&values)[N], const std::string& name, const char* field, const char* noun) {
  for (E value : values)
    if (name == to_string(value)) return value;
  throw InvalidArgument(std::string(field) + ": unknown " + noun + " '" + name + "'; expected " +
                            one_of(names(values)),
                        field);
}

// A file cannot be read or written. The message names the file and, where known, the place.
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An output cannot be written (a full disk, an I/O error, a closed stream): the input was fine.
class OutputError : public IoError {
 public:
  using IoError::IoError;
};

}  // namespace eot
