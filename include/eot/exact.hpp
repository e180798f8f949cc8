// Exact (epsilon = 0) optimal transport, the limit the entropic problem approaches:
//
//   OT_0 = min over P >= 0 with P 1 = a, P^T 1 = b of <P, C>
//
// solved by LEMON's network simplex (Debian liblemon-dev). LEMON requires integer data, so the
// weights are scaled to integers that keep their exact total (largest remainders), and the
// costs to integers of about 1e12 times their largest magnitude: the plan is feasible to about
// 1e-15 of the mass, and the cost optimal to about 1e-12 of the cost range times n + m.
#pragma once

#include "eot/types.hpp"

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

}  // namespace eot
