// What the eot subcommands share: exit codes, error helpers, file-to-precision conversion.
#pragma once

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>

#include "eot/eot.hpp"

namespace eot::cli {

// The groups of a command's --help, in this order: what the problem is, how to solve it, what
// to write.
inline constexpr const char* kProblemGroup = "Problem";
inline constexpr const char* kSolverGroup = "Solver";
inline constexpr const char* kOutputGroup = "Output";

// The exit codes (a contract: scripts depend on them).
enum Exit { kConverged = 0, kInternal = 1, kBadInput = 2, kNotConverged = 3, kOutputFailed = 4 };
inline constexpr const char* kExitCodes =
    "Exit codes: 0 converged; 2 bad input (usage, unreadable or malformed file, validation "
    "failure); 3 finished without converging (outputs are still written); 4 an output could not "
    "be written (disk full, I/O error, closed standard output; no output is replaced); 1 "
    "internal error; 130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM (no output is "
    "written).";

// Bad input ends the run with exit code 2 and this one-line message.
[[noreturn]] inline void bad_input(const std::string& message) {
  throw InvalidArgument(message);
}

// The library's names of an enum's values (e.g. kDomains) as "a|b|c", for --help.
template <typename E, std::size_t N>
std::string alternatives(const E (&values)[N]) {
  std::string out;
  for (const std::string& name : names(values)) out += (out.empty() ? "" : "|") + name;
  return out;
}

// An option that takes one of those names and stores its value.
template <typename E, std::size_t N>
CLI::CheckedTransformer named(const E (&values)[N]) {
  std::map<std::string, E> by_name;
  for (E value : values) by_name[to_string(value)] = value;
  return CLI::CheckedTransformer(by_name);
}

// --metric's help: "cost of point clouds: sqeuclidean (|x - y|^2), euclidean (|x - y|), ...".
inline std::string metric_help() {
  std::string out = "cost of point clouds:";
  for (Metric metric : kMetrics)
    out += std::string(out.back() == ':' ? " " : ", ") + to_string(metric) + " (" +
           formula(metric) + ")";
  return out;
}

inline std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// The values as T; in float, a finite value beyond float's range is refused, not made inf. Entry
// (i, j) is named (layer, i, j) when `layer` >= 0 (a layer of a 3-D array).
template <typename T>
Matrix<T> to_precision(const std::string& file, const Eigen::Ref<const Matrix<double>>& values,
                       Index layer = -1) {
  if constexpr (std::is_same_v<T, double>) return values;
  const double limit = std::numeric_limits<T>::max();
  for (Index i = 0; i < values.rows(); ++i) {
    for (Index j = 0; j < values.cols(); ++j) {
      const double v = values(i, j);
      if (std::isfinite(v) && std::abs(v) > limit) {
        bad_input(file + ": entry (" + (layer >= 0 ? std::to_string(layer) + ", " : "") +
                  std::to_string(i) + ", " + std::to_string(j) + ") = " + number(v) +
                  " overflows float; use --precision double");
      }
    }
  }
  return values.template cast<T>();
}

// The same, moving the values when T is double: no second copy of what may be most of memory.
template <typename T>
Matrix<T> to_precision(const std::string& file, Matrix<double>&& values) {
  if constexpr (std::is_same_v<T, double>) return std::move(values);
  return to_precision<T>(file, values, -1);
}

// Bytes per entry of an n x m result held in T and written out: the writer takes doubles, so
// a float result is converted first (measured peaks: 8.0 in double, 11.9 in float).
template <typename T>
constexpr double held_and_written_bytes() {
  return sizeof(T) + (std::is_same_v<T, double> ? 0 : sizeof(double));
}

// The best of `repeats` timings of f(), in seconds: the run least disturbed by other processes
// (eot bench and eot bench-attention).
template <typename F>
double best_seconds(int repeats, F&& f) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    f();
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

// Each subcommand registers its flags; once parsed, `run` performs it and returns the exit code.
using Runner = std::function<int()>;
void add_solve_command(CLI::App& app, Runner& run);
void add_attention_command(CLI::App& app, Runner& run);
void add_bench_command(CLI::App& app, Runner& run);
void add_barycenter_command(CLI::App& app, Runner& run);
void add_demo_command(CLI::App& app, Runner& run);
void add_divergence_command(CLI::App& app, Runner& run);
void add_exact_command(CLI::App& app, Runner& run);
void add_sweep_command(CLI::App& app, Runner& run);

}  // namespace eot::cli
