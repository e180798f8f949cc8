#include "eot/batch.hpp"

#include <string>

#include "eot/error.hpp"
#include "eot/parallel.hpp"

namespace eot {

template <typename T>
std::vector<Result> solve_batched(const std::vector<Problem<T>>& problems,
                                  const SolverOptions& options) {
  check_threads(options.threads, "options.threads");
  for (std::size_t k = 0; k < problems.size(); ++k) {
    try {
      validate(problems[k], options);
    } catch (const InvalidArgument& e) {
      throw InvalidArgument("problem " + std::to_string(k) + ": " + e.what(), e.field(), e.index());
    }
  }
  std::vector<Index> small, large;
  for (std::size_t k = 0; k < problems.size(); ++k) {
    const Problem<T>& problem = problems[k];
    (problem.n() * problem.m() <= kBatchOneThreadEntries ? small : large).push_back(Index(k));
  }
  std::vector<Result> results(problems.size());
  SolverOptions alone = options;
  alone.threads = 1;
  parallel_for(Index(small.size()), options.threads,
               [&](Index k) { results[small[k]] = solve(problems[small[k]], alone); });
  for (Index k : large) results[k] = solve(problems[k], options);
  return results;
}

template std::vector<Result> solve_batched(const std::vector<Problem<float>>&,
                                           const SolverOptions&);
template std::vector<Result> solve_batched(const std::vector<Problem<double>>&,
                                           const SolverOptions&);

}  // namespace eot
