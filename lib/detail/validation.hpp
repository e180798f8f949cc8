// What solve() checks before the first iteration (lib/validation.cpp), and what those checks
// learn of the whole problem for the loop.
#pragma once

#include "eot/distributed.hpp"
#include "eot/solver.hpp"

namespace eot::detail {

// What the checks and the loop need of the whole problem when each rank holds a block of its
// rows (a single process: the problem itself).
struct Whole {
  Index n = 0;       // rows
  Index offset = 0;  // of this rank's first row
  double mass_a = 0, mass_b = 0;
  CostBounds bounds;  // known_cost_bounds() over every block
  bool may_forbid = false;
};

// validate()'s rules on this rank's block of rows (a single process: the whole problem).
// Throws InvalidArgument naming the field; every rank throws the same.
template <typename T>
Whole validate_whole(const Problem<T>& block, const SolverOptions& options, const Ranks& ranks);

extern template Whole validate_whole(const Problem<float>&, const SolverOptions&, const Ranks&);
extern template Whole validate_whole(const Problem<double>&, const SolverOptions&, const Ranks&);

}  // namespace eot::detail
