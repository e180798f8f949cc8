// The values a solve reports (docs/conventions.md, "Reported values"), as pure functions of
// sums over the plan's marginals: O(n + m) once the marginals and <P, C> are known.
#pragma once

#include <Eigen/Core>
#include <cmath>

#include "detail/dual.hpp"
#include "eot/types.hpp"

namespace eot::detail {

// rho KL(x | w) for a soft side, 0 for a hard or free one.
inline double penalty(const Eigen::VectorXd& x, const Eigen::VectorXd& w, double rho) {
  if (rho == kInf || rho == 0) return 0;
  const Eigen::ArrayXd terms =
      (x.array() > 0).select(x.array() * (x.array() / w.array()).log(), 0.0);
  return rho * (terms - x.array() + w.array()).sum();
}

// One side's sums: its marginal x (r or c) against its potential, weights w and rho. They add
// up over blocks of the side's entries (a distributed solve's ranks each sum their rows).
struct SideSums {
  double mass = 0;       // sum x
  double dot = 0;        // <x, potential>
  double penalty = 0;    // D(x | w): penalty() above
  double conjugate = 0;  // conjugate_term(w, potential, rho)
  double x_log_w = 0;    // sum x log w over x > 0
  static constexpr int kCount = 5;
  double* data() { return &mass; }
};
static_assert(sizeof(SideSums) == SideSums::kCount * sizeof(double));

inline SideSums side_sums(const Eigen::VectorXd& x, const Eigen::VectorXd& potential,
                          const Eigen::VectorXd& w, const Eigen::VectorXd& log_w, double rho) {
  return {x.sum(), x.dot(potential), penalty(x, w, rho), conjugate_term(w, potential, rho),
          (x.array() > 0).select(x.array() * log_w.array(), 0.0).sum()};
}

struct Values {
  double primal = 0, dual = 0, gap = 0, entropy = 0;
};

// With log P_ij = log a_i + log b_j + (f_i + g_j - C_ij) / epsilon, epsilon KL(P | a (x) b) =
// <r, f> + <c, g> - <P, C> - epsilon (m_P - m_a m_b), so that
//   primal  = <r, f> + <c, g> - epsilon (m_P - m_a m_b) + D_a(r | a) + D_b(c | b)
//   dual    = -sum a phi_a*(-f) - sum b phi_b*(-g) - epsilon (m_P - m_a m_b)
//   entropy = -sum P log P = -(<r, log a> + <c, log b> + (<r, f> + <c, g> - <P, C>) / epsilon)
// `rows.mass` is m_P (the column sums' mass is the same plan's).
inline Values values(const SideSums& rows, const SideSums& cols, double transport_cost,
                     double epsilon, double mass_a, double mass_b) {
  const double mass_term = epsilon * (rows.mass - mass_a * mass_b);
  Values v;
  v.primal = rows.dot + cols.dot - mass_term + rows.penalty + cols.penalty;
  v.dual = rows.conjugate + cols.conjugate - mass_term;
  v.gap = v.primal - v.dual;
  v.entropy = -(rows.x_log_w + cols.x_log_w + (rows.dot + cols.dot - transport_cost) / epsilon);
  return v;
}

}  // namespace eot::detail
