// The debiased Sinkhorn divergence (Feydy et al., AISTATS 2019; Sejourne et al. 2019 for
// unbalanced measures), docs/conventions.md, "Sinkhorn divergence":
//
//   S(a, b) = OT(a, b) - OT(a, a) / 2 - OT(b, b) / 2 + epsilon (m_a - m_b)^2 / 2
//
// with OT the optimal value of the entropic problem (costs and epsilon KL(P | a (x) b), both
// sides penalized by rho: inf balanced, finite unbalanced). S(a, a) = 0 and S >= 0. The
// symmetric problems OT(a, a) and OT(b, b) are solved by the averaged update
// f <- (f + T(f)) / 2, which converges in a few iterations.
#pragma once

#include "eot/solver.hpp"

namespace eot {

struct DivergenceResult {
  double divergence = 0;
  double ot_xy = 0, ot_xx = 0, ot_yy = 0;
  Status status = Status::NumericalFailure;  // the worst of the three solves
  std::string message;                       // the first solve that did not converge, or ""
  int iterations = 0;                        // of the three solves together
  double solve_time_seconds = 0;
  // dS/da and dS/db (envelope theorem); with point clouds also dS/dx (n x d) and dS/dy.
  Eigen::VectorXd grad_a, grad_b;
  Matrix<double> grad_x, grad_y;
};

// Point clouds x (n x d) and y (m x d) with the metric, weights a and b: the divergence, its
// value terms and every gradient. `options` as for solve() (the tolerance, the budget, threads
// apply to each of the three solves). Throws InvalidArgument as solve() does; with rho = inf
// the masses must be equal.
template <typename T>
DivergenceResult sinkhorn_divergence(const Matrix<T>& x, const Matrix<T>& y, Metric metric,
                                     const Vector<T>& a, const Vector<T>& b, double epsilon,
                                     double rho = kInf, const SolverOptions& options = {});

// The same from three cost geometries, C(x, y) (n x m), C(x, x) (n x n) and C(y, y) (m x m;
// the last two symmetric): the values and the weight gradients.
template <typename T>
DivergenceResult sinkhorn_divergence(std::shared_ptr<const Geometry<T>> xy,
                                     std::shared_ptr<const Geometry<T>> xx,
                                     std::shared_ptr<const Geometry<T>> yy, const Vector<T>& a,
                                     const Vector<T>& b, double epsilon, double rho = kInf,
                                     const SolverOptions& options = {});

extern template DivergenceResult sinkhorn_divergence(const Matrix<float>&, const Matrix<float>&,
                                                     Metric, const Vector<float>&,
                                                     const Vector<float>&, double, double,
                                                     const SolverOptions&);
extern template DivergenceResult sinkhorn_divergence(const Matrix<double>&, const Matrix<double>&,
                                                     Metric, const Vector<double>&,
                                                     const Vector<double>&, double, double,
                                                     const SolverOptions&);
extern template DivergenceResult sinkhorn_divergence(std::shared_ptr<const Geometry<float>>,
                                                     std::shared_ptr<const Geometry<float>>,
                                                     std::shared_ptr<const Geometry<float>>,
                                                     const Vector<float>&, const Vector<float>&,
                                                     double, double, const SolverOptions&);
extern template DivergenceResult sinkhorn_divergence(std::shared_ptr<const Geometry<double>>,
                                                     std::shared_ptr<const Geometry<double>>,
                                                     std::shared_ptr<const Geometry<double>>,
                                                     const Vector<double>&, const Vector<double>&,
                                                     double, double, const SolverOptions&);

}  // namespace eot
