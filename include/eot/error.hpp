// The library's exceptions. Only bad input throws; how a solve ended is a Status.
#pragma once

#include <stdexcept>
#include <string>

namespace eot {

// An argument breaks a rule. The message names the field, its value (or index) and the rule.
class InvalidArgument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

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
