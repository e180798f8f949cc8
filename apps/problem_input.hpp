// The problem inputs `eot solve` and `eot sweep` share: cost or point clouds, weights,
// marginal penalties and solver controls, read from files into an eot::Problem.
#pragma once

#include <nlohmann/json.hpp>

#include "common.hpp"

namespace eot::cli {

struct ProblemInput {
  std::string cost, x, y, metric = "sqeuclidean", a, b;
  double rho_a = kInf, rho_b = kInf;
  std::string precision = "double";
  std::string memory_limit;  // --memory-limit as given; parsed into options.memory_limit
  SolverOptions options;
};

// --tolerance, --max-iterations, --threads, --precision.
void add_iteration_options(CLI::App& app, SolverOptions& options, std::string& precision);
// --cost | --x --y [--metric], --a, --b, --memory-limit: what `eot exact` takes.
void add_input_options(CLI::App& app, ProblemInput& input);
// The inputs, and --rho-a, --rho-b, the solver controls, --precision.
void add_problem_options(CLI::App& app, ProblemInput& input);
// Throws CLI::RequiredError unless a cost or point clouds were given, and CLI::ValidationError
// for a bad --memory-limit (call after parsing).
void require_geometry(ProblemInput& input);
// What the files hold: one problem, or, when the cost or a point cloud is a 3-D .npy array, a
// batch: B costs (B x n x m), or B point clouds (B x n x d, B x m x d; either may be 2-D, the
// same for every problem), with --a and --b 1-D (shared) or 2-D (B rows).
//
// Under mpirun (apps/ranks.hpp), each rank reads its block of the rows (eot/distributed.hpp):
// one problem, whose first row is row `offset` of the files.
template <typename T>
struct Problems {
  std::vector<Problem<T>> problems;
  bool batch = false;
  Index offset = 0;
};
// Reads the files and applies the library's rules (eot::validate) to every problem; bad input
// ends the run with a message that names the file (and the problem of a batch).
template <typename T>
Problems<T> read_problems(const ProblemInput& input, double epsilon);
// One problem, as read_problems; a batch is refused with the advice to use eot solve.
template <typename T>
Problem<T> read_problem(const ProblemInput& input, double epsilon, const std::string& command);
// The same without the library's rules: the weights as given.
template <typename T>
Problem<T> read_inputs(const ProblemInput& input, double epsilon, const std::string& command);
// The library's refusal of a problem, with the file the field came from in front ("a.csv: a(3)
// is -1: ..."). A field from a flag, or a default, is named by the message alone.
[[noreturn]] void refuse_with_file(const InvalidArgument& e, const ProblemInput& input);
// A result's fields (eot::result_fields()) as JSON: every one (what `eot solve --json` reports
// before the history), or only the values the solve found (each row of `eot sweep --json`). An
// infinite rho is "inf".
nlohmann::ordered_json fields_json(const Result& result, bool found_only);
// Where progress goes on stderr: nowhere (--quiet, --json, or not a terminal), a terminal (one
// line rewritten in place, 10 times a second), or a log (--progress when stderr is not a
// terminal: one line per update, one a second).
enum class Progress { Off, Terminal, Log };
// --quiet and --progress (which exclude each other).
void add_progress_options(CLI::App& app, bool& quiet, bool& progress);
Progress progress_mode(bool quiet, bool json, bool forced);
// Announces the reading of each input file of 64 MB or more ("eot: reading cost.npy, 1.2 GB"):
// the first long phase of a run. Call before read_problems.
void announce_reads(Progress mode, const ProblemInput& input, bool& printed);
// Ends a terminal's progress line, if one is up.
void end_progress(Progress mode, bool& printed);
// A line of its own ("eot: kernel domain, K takes 32 MB"), ending a progress line if one is up.
void announce(Progress mode, const std::string& line, bool& printed);
// The callback that prints the progress: `prefix`, the stage, epsilon, iteration, the error
// against its target, the time so far and, from the rate measured between the last two
// updates, an estimate of the time left. Sets `printed` (a terminal line to end with '\n').
IterationCallback progress_printer(Progress mode, bool& printed, const std::string& prefix = "eot");

}  // namespace eot::cli
