// Many problems at once, the way a training loop has them.
#pragma once

#include <string>
#include <vector>

#include "eot/solver.hpp"

namespace eot {

// A problem with at most this many cost entries is solved on one thread, several such problems
// side by side (a pass over 64 x 64 costs is too short to share out); larger ones are solved one
// after another, each on all the threads.
inline constexpr Index kBatchOneThreadEntries = Index(1) << 18;

// Solves every problem with the same options and returns the results in the same order. Each
// result is bitwise the one solve(problems[k], options) returns alone: a solve's values do not
// depend on its thread count. Every problem is validated before the first is solved; bad input
// throws InvalidArgument with "problem k: " in front of the library's message (field() and
// index() as for that problem). options.callback, if set, may be called from several threads at
// once; options.interrupt stops every solve under way and the ones not yet started (each
// returns Status::Interrupted). options.memory_limit applies to each solve: up to
// thread_count(options.threads) small problems are solved at once.
template <typename T>
std::vector<Result> solve_batched(const std::vector<Problem<T>>& problems,
                                  const SolverOptions& options = {});

// Several lines: what the problems are, how many converged, the spread of iterations, errors and
// costs, the problems that did not converge (the first ten), and `seconds` (the batch's wall time).
std::string batch_report(const std::vector<Result>& results, double seconds);

extern template std::vector<Result> solve_batched(const std::vector<Problem<float>>&,
                                                  const SolverOptions&);
extern template std::vector<Result> solve_batched(const std::vector<Problem<double>>&,
                                                  const SolverOptions&);

}  // namespace eot
