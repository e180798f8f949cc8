// Exact (epsilon = 0) optimal transport, the limit the entropic problem approaches:
//
//   OT_0 = min over P >= 0 with P 1 = a, P^T 1 = b of <P, C>
//
// solved by LEMON's network simplex (Debian liblemon-dev). LEMON requires integer data, so the
// weights are scaled to integers that keep their exact total (largest remainders), and the
// costs to integers of about 1e12 times their largest magnitude: the plan is feasible to about
// 1e-15 of the mass, and the cost optimal to about 1e-12 of the cost range times n + m.
#pragma once

#include <cstdint>

#include "eot/problem.hpp"

namespace eot {

struct ExactResult {
  double cost = 0;       // <P, C> with the given (real) costs
  Matrix<double> plan;   // n x m, at most n + m - 1 nonzero entries
  Eigen::VectorXd f, g;  // dual potentials: f_i + g_j <= C_ij, equality where P_ij > 0
  double dual = 0;       // <a, f> + <b, g>, equal to cost at the optimum
};

// Throws InvalidArgument for mismatched sizes, negative or non-finite weights, unequal masses
// (relative 1e-9), NaN or -inf costs, or a problem with no feasible plan (forbidden pairs).
ExactResult exact_ot(const Matrix<double>& cost, const Eigen::VectorXd& a,
                     const Eigen::VectorXd& b);

// The memory an exact solve takes per cost entry: the dense costs in double, LEMON's graph,
// its integer costs and the network simplex's arrays, and the plan. Measured as the peak
// resident size of a 2000 x 2000 point-cloud solve (370 MB) over its 4e6 entries.
inline constexpr double kExactBytesPerEntry = 96;

// The same for a problem's geometry, weights and masses (its epsilon is not used): the costs
// are formed densely, in double. Throws InvalidArgument (field "masses") unless both sides
// are hard, with the advice to normalize or relax a side, and refuses a problem whose
// n m kExactBytesPerEntry bytes do not fit the memory budget (memory_limit as for
// SolverOptions) before any work.
template <typename T>
ExactResult exact_ot(const Problem<T>& problem, std::uint64_t memory_limit = 0);

extern template ExactResult exact_ot(const Problem<float>&, std::uint64_t);
extern template ExactResult exact_ot(const Problem<double>&, std::uint64_t);

}  // namespace eot
