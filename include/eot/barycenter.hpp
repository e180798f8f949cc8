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
  // sum_k lambda_k |P_k 1 - a_k|_1 after the last iteration (each P_k^T 1 is b exactly);
  // converged when <= tolerance (SolverOptions::tolerance, relative to the unit mass).
  double marginal_error = 0;
  double solve_time_seconds = 0;
};

// measures: k x n, one histogram a row (each non-negative, summing to 1); lambdas: k
// non-negative weights summing to 1 (empty: uniform). Uses options.max_iterations,
// tolerance, threads and interrupt (the error is checked at every iteration: it comes with
// the next iteration's passes). Throws InvalidArgument naming the field
// ("measures", "lambdas", "cost", "epsilon") and the entry.
template <typename T>
BarycenterResult barycenter(std::shared_ptr<const Geometry<T>> cost, const Matrix<T>& measures,
                            const Eigen::VectorXd& lambdas, double epsilon,
                            const SolverOptions& options = {});

extern template BarycenterResult barycenter(std::shared_ptr<const Geometry<float>>,
                                            const Matrix<float>&, const Eigen::VectorXd&, double,
                                            const SolverOptions&);
extern template BarycenterResult barycenter(std::shared_ptr<const Geometry<double>>,
                                            const Matrix<double>&, const Eigen::VectorXd&, double,
                                            const SolverOptions&);

}  // namespace eot
