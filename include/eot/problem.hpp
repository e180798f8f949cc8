// The entropic OT problem (docs/conventions.md, "The problem"): one type for every regime.
//
//   minimize over P >= 0:  <P, C> + epsilon KL(P | a (x) b) + D_a(P 1 | a) + D_b(P^T 1 | b)
//
// Each side has a marginal penalty rho in [0, inf]: inf is a hard constraint, 0 a free side,
// anything between a KL penalty. Balanced, semi-relaxed, unbalanced and one-sided problems are
// values of (rho_a, rho_b), not separate code paths.
#pragma once

#include <memory>
#include <string>

#include "eot/geometry.hpp"

namespace eot {

// The damping of a side, tau = rho / (rho + epsilon): 1 for a hard side, 0 for a free one.
double damping(double rho, double epsilon);

// "balanced", "semi-relaxed", "unbalanced", "one-sided", ... from the two penalties.
std::string regime_name(double rho_a, double rho_b);

template <typename T>
struct Problem {
  // Uniform weights of mass 1 on each side and hard constraints (a balanced problem).
  Problem(std::shared_ptr<const Geometry<T>> geometry, double epsilon);

  std::shared_ptr<const Geometry<T>> geometry;
  Vector<T> a;  // row weights, n, >= 0
  Vector<T> b;  // column weights, m, >= 0
  double epsilon;
  double rho_a = kInf;
  double rho_b = kInf;

  Index n() const { return geometry->rows(); }
  Index m() const { return geometry->cols(); }
  std::string regime() const { return regime_name(rho_a, rho_b); }

  // Given potentials f (n) and g (m): the plan P_ij = a_i b_j exp((f_i + g_j - C_ij) / epsilon),
  // and its products P V and P^T W without materializing it.
  Matrix<T> plan(const Eigen::VectorXd& f, const Eigen::VectorXd& g, int threads = 0) const;
  Eigen::MatrixXd apply_plan(const Eigen::VectorXd& f, const Eigen::VectorXd& g,
                             const Eigen::Ref<const Eigen::MatrixXd>& v, int threads = 0) const;
  Eigen::MatrixXd apply_plan_transpose(const Eigen::VectorXd& f, const Eigen::VectorXd& g,
                                       const Eigen::Ref<const Eigen::MatrixXd>& w,
                                       int threads = 0) const;

  // log a_i + f_i / epsilon and log b_j + g_j / epsilon: the plan's log row and column factors.
  Eigen::VectorXd log_row_factor(const Eigen::VectorXd& f) const;
  Eigen::VectorXd log_col_factor(const Eigen::VectorXd& g) const;
};

extern template struct Problem<float>;
extern template struct Problem<double>;

}  // namespace eot
