// A side's share of the dual (docs/conventions.md, "Reported values" and "The Newton stage"):
// the marginal it asks the plan for, and its term of the dual objective. One place for both,
// used by the Sinkhorn loop and by the Newton stage.
#pragma once

#include <Eigen/Core>
#include <cmath>

#include "detail/exp.hpp"
#include "eot/types.hpp"

namespace eot::detail {

// A marginal of the plan: exp(log w + potential / epsilon + lse), with lse that side's
// log-sum-exp over the other (0 where w is 0).
inline Eigen::VectorXd marginal(const Eigen::VectorXd& log_w, const Eigen::VectorXd& potential,
                                const Eigen::VectorXd& lse, double epsilon) {
  return exp_or_zero(log_w.array() + potential.array() / epsilon + lse.array());
}

// The marginal that side's first-order condition asks of the plan: w for a hard side (rho =
// inf), w exp(-potential / rho) for a soft one.
inline Eigen::VectorXd target(const Eigen::VectorXd& w, const Eigen::VectorXd& potential,
                              double rho) {
  if (rho == kInf) return w;
  return w.array() * (-potential.array() / rho).exp();
}

// -sum_i w_i phi*(-potential_i): <w, f> hard, -rho sum w (exp(-f / rho) - 1) soft, 0 free.
inline double conjugate_term(const Eigen::VectorXd& w, const Eigen::VectorXd& potential,
                             double rho) {
  if (rho == 0) return 0;
  if (rho == kInf) return w.dot(potential);
  return -rho * (w.array() * ((-potential.array() / rho).exp() - 1)).sum();
}

// conjugate_term(w, potential + step, rho) - conjugate_term(w, potential, rho), without the
// cancellation of subtracting the two (a Newton step's gain is far below their size).
inline double conjugate_change(const Eigen::VectorXd& w, const Eigen::VectorXd& potential,
                               const Eigen::VectorXd& step, double rho) {
  if (rho == 0) return 0;
  if (rho == kInf) return w.dot(step);
  double sum = 0;
  for (Index i = 0; i < w.size(); ++i)
    sum += w[i] * std::exp(-potential[i] / rho) * std::expm1(-step[i] / rho);
  return -rho * sum;
}

}  // namespace eot::detail
