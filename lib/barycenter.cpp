#include "eot/barycenter.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "detail/exp.hpp"
#include "detail/text.hpp"
#include "eot/error.hpp"
#include "eot/parallel.hpp"

namespace eot {

using detail::str;
using Eigen::VectorXd;

namespace {

template <typename T>
void check(const Geometry<T>* cost, const Matrix<T>& measures, const VectorXd& lambdas,
           double epsilon) {
  if (!cost) throw InvalidArgument("cost: is null", "cost");
  const Index k = measures.rows(), n = measures.cols();
  if (k == 0 || n == 0) throw InvalidArgument("measures: no histogram given", "measures");
  if (cost->rows() != n || cost->cols() != n) {
    throw InvalidArgument("cost: " + std::to_string(cost->rows()) + " x " +
                              std::to_string(cost->cols()) + ", but the histograms have " +
                              std::to_string(n) + " entries (the cost must be " +
                              std::to_string(n) + " x " + std::to_string(n) + ")",
                          "cost");
  }
  if (!std::isfinite(epsilon) || epsilon <= 0)
    throw InvalidArgument("epsilon is " + str(epsilon) + ": it must be positive and finite",
                          "epsilon");
  double first = 0;
  for (Index r = 0; r < k; ++r) {
    double mass = 0;
    for (Index i = 0; i < n; ++i) {
      const double v = measures(r, i);
      if (!std::isfinite(v) || v < 0) {
        throw InvalidArgument("measures(" + std::to_string(r) + ", " + std::to_string(i) + ") is " +
                                  str(v) + ": histograms must be finite and >= 0",
                              "measures", r);
      }
      mass += v;
    }
    if (r == 0) first = mass;
    // Equal within 1e-9, or the rounding of the entries to T.
    const double slack = std::max(1e-9, 100 * double(std::numeric_limits<T>::epsilon()));
    if (!(mass > 0) || std::abs(mass - first) > slack * first) {
      throw InvalidArgument("measures: histogram " + std::to_string(r) + " has mass " +
                                str(mass, 17) + " but histogram 0 has " + str(first, 17) +
                                "; the histograms need equal positive masses (normalize them)",
                            "measures", r);
    }
  }
  if (lambdas.size() != k) {
    throw InvalidArgument("lambdas has " + std::to_string(lambdas.size()) +
                              " entries but there are " + std::to_string(k) + " histograms",
                          "lambdas");
  }
  for (Index r = 0; r < k; ++r) {
    if (!std::isfinite(lambdas[r]) || lambdas[r] < 0)
      throw InvalidArgument("lambdas(" + std::to_string(r) + ") is " + str(lambdas[r]) +
                                ": weights must be finite and >= 0",
                            "lambdas", r);
  }
  if (std::abs(lambdas.sum() - 1) > 1e-9) {
    throw InvalidArgument("lambdas sum to " + str(lambdas.sum()) + "; they must sum to 1",
                          "lambdas");
  }
}

}  // namespace

template <typename T>
BarycenterResult barycenter(std::shared_ptr<const Geometry<T>> cost, const Matrix<T>& measures,
                            const VectorXd& lambdas_in, double epsilon,
                            const SolverOptions& options, bool debiased) {
  const Index k = measures.rows(), n = measures.cols();
  const VectorXd lambdas =
      lambdas_in.size() == 0 ? VectorXd::Constant(k, 1.0 / double(k)) : lambdas_in;
  check(cost.get(), measures, lambdas, epsilon);
  check_threads(options.threads);
  const auto start = std::chrono::steady_clock::now();
  const double tolerance = effective_tolerance<T>(options);
  const double mass = measures.row(0).template cast<double>().sum();
  auto interrupted = [&] { return options.interrupt && options.interrupt->load(); };

  std::vector<VectorXd> log_a(k), f(k), g(k, VectorXd::Zero(n)), rows(k), cols(k);
  for (Index r = 0; r < k; ++r)
    log_a[r] = measures.row(r).transpose().template cast<double>().array().log();
  VectorXd log_b = VectorXd::Constant(n, std::log(mass / double(n)));
  VectorXd c = VectorXd::Zero(n), self(n);  // debiased: b's potential to itself, and its LSE
  double c_error = 0;                       // c's residual when it entered log b
  BarycenterResult result;
  result.status = Status::MaxIterationsReached;
  for (int iteration = 0;; ++iteration) {
    // Rows: f_k = log a_k - LSE_j (g_k - C / epsilon). From the second iteration on, the same
    // LSE at the previous f_k gives the rows' marginal error of the previous iteration.
    double error = 0;
    for (Index r = 0; r < k; ++r) {
      cost->lse_rows(g[r], epsilon, rows[r], options.threads, options.interrupt);
      if (interrupted()) break;
      if (iteration > 0) {
        const VectorXd marginal = detail::exp_or_zero(f[r].array() + rows[r].array());
        error += lambdas[r] * (marginal - log_a[r].array().exp().matrix()).lpNorm<1>();
      }
    }
    error += c_error;
    if (interrupted()) {
      result.status = Status::Interrupted;
      result.message = "interrupted after " + std::to_string(result.iterations) + " iterations";
      break;
    }
    result.marginal_error = error;
    if (iteration > 0 && !std::isfinite(error)) {
      result.status = Status::NumericalFailure;
      result.message =
          "the marginal error at iteration " + std::to_string(iteration) + " is not finite";
      break;
    }
    if (iteration > 0 && error <= tolerance * mass) {
      result.status = Status::Converged;
      result.message = "converged in " + std::to_string(iteration) +
                       " iterations: marginal error " + str(error) + " <= " + str(tolerance * mass);
      break;
    }
    if (iteration == options.max_iterations) {
      result.message = "reached max_iterations = " + std::to_string(options.max_iterations) +
                       " with marginal error " + str(error) +
                       "; raise max_iterations or the tolerance";
      break;
    }
    // Columns: log b = sum_k lambda_k LSE_i (f_k - C / epsilon), g_k = log b - that LSE.
    log_b.setZero();
    for (Index r = 0; r < k; ++r) {
      f[r] = (log_a[r].array() == -kInf).select(-kInf, log_a[r] - rows[r]);
      cost->lse_cols(f[r], epsilon, cols[r], options.threads, options.interrupt);
      if (lambdas[r] > 0) log_b += lambdas[r] * cols[r];
    }
    if (debiased) log_b += c;
    for (Index r = 0; r < k; ++r) g[r] = (log_b.array() == -kInf).select(-kInf, log_b - cols[r]);
    // Debiased: c <- (c + log b - LSE_i (c - C / epsilon)) / 2, the symmetric update of b's
    // transport to itself, until its residual is a tenth of the tolerance (10 updates at most).
    for (int update = 0; debiased && update < 10 && !interrupted(); ++update) {
      cost->lse_cols(c, epsilon, self, options.threads, options.interrupt);
      const double residual = (detail::exp_or_zero(c.array() + self.array()) - log_b.array().exp())
                                  .matrix()
                                  .lpNorm<1>();
      if (update == 0) c_error = residual;
      if (residual <= tolerance * mass / 10) break;
      c = (c + log_b - self) / 2;
    }
    result.iterations = iteration + 1;
  }
  result.barycenter = detail::exp_or_zero(log_b.array());
  result.solve_time_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

template BarycenterResult barycenter(std::shared_ptr<const Geometry<float>>, const Matrix<float>&,
                                     const VectorXd&, double, const SolverOptions&, bool);
template BarycenterResult barycenter(std::shared_ptr<const Geometry<double>>, const Matrix<double>&,
                                     const VectorXd&, double, const SolverOptions&, bool);

}  // namespace eot
