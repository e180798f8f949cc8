// Fixed-support entropic Wasserstein barycenter by iterative Bregman projections (Benamou et
// al. 2015), the problem POT's ot.bregman.barycenter solves, in its convention
// (docs/conventions.md, "Barycenters"):
//
//   b = argmin over histograms b of  sum_k lambda_k W(b, a_k),
//   W(b, a) = min over P with P 1 = a, P^T 1 = b of <P, C> - epsilon H(P),  H(P) = -sum P log P
//
// on one support of n points with costs C (n x n). In the log domain, with f_k, g_k the
// scalings' logs: f_k = log a_k - LSE_j (g_k - C / epsilon), log b = sum_k lambda_k LSE_i
// (f_k - C / epsilon), g_k = log b - LSE_i (f_k - C / epsilon).
#pragma once

#include "eot/solver.hpp"

namespace eot {

struct BarycenterResult {
  Eigen::VectorXd barycenter;  // b (n)
  Status status = Status::NumericalFailure;
  std::string message;
  int iterations = 0;
  // sum_k lambda_k |P_k 1 - a_k|_1 after the last iteration (each P_k^T 1 is b exactly), plus,
  // debiased, c's residual; converged when <= tolerance (SolverOptions::tolerance, relative to
  // the histograms' mass).
  double marginal_error = 0;
  double solve_time_seconds = 0;
};

// measures: k x n, one histogram a row (each non-negative, summing to 1); lambdas: k
// non-negative weights summing to 1 (empty: uniform). Uses options.max_iterations,
// tolerance, threads and interrupt (the error is checked at every iteration: it comes with
// the next iteration's passes). Throws InvalidArgument naming the field
// ("measures", "lambdas", "cost", "epsilon") and the entry.
//
// debiased: the debiased barycenter of Janati et al. (2020), the minimizer of sum_k lambda_k
// S(b, a_k) with S the Sinkhorn divergence in this convention, which POT's
// ot.bregman.barycenter_debiased computes: log b gains the potential c of b's transport to
// itself, c = log b - LSE_i (c - C / epsilon) (the cost is taken as symmetric, as it is between
// points of one support). Up to 10 averaged updates of c per iteration; the error then adds
// c's residual |exp(c + LSE_i (c - C / epsilon)) - b|_1.
template <typename T>
BarycenterResult barycenter(std::shared_ptr<const Geometry<T>> cost, const Matrix<T>& measures,
                            const Eigen::VectorXd& lambdas, double epsilon,
                            const SolverOptions& options = {}, bool debiased = false);

extern template BarycenterResult barycenter(std::shared_ptr<const Geometry<float>>,
                                            const Matrix<float>&, const Eigen::VectorXd&, double,
                                            const SolverOptions&, bool);
extern template BarycenterResult barycenter(std::shared_ptr<const Geometry<double>>,
                                            const Matrix<double>&, const Eigen::VectorXd&, double,
                                            const SolverOptions&, bool);

}  // namespace eot
