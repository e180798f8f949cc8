#include "eot/divergence.hpp"

#include <chrono>
#include <cmath>

#include "detail/dual.hpp"
#include "detail/exp.hpp"
#include "detail/metrics.hpp"
#include "detail/tiles.hpp"
#include "eot/error.hpp"

namespace eot {

using Eigen::VectorXd;

namespace {

// A symmetric problem OT(a, a) on a symmetric cost: f = g, found by the averaged update
// f <- (f + T(f)) / 2 with T(f) = -tau epsilon LSE_j [log a_j + (f_j - C_ij) / epsilon]. The
// plain update T alone oscillates between two potentials; the average contracts fast.
struct Symmetric {
  VectorXd f, lse;  // lse_i = LSE_j [log a_j + (f_j - C_ij) / epsilon] at the returned f
  double value = 0;
  Status status = Status::MaxIterationsReached;
  int iterations = 0;
};

template <typename T>
Symmetric solve_symmetric(const Geometry<T>& geometry, const VectorXd& a, double epsilon,
                          double rho, const SolverOptions& options) {
  const VectorXd log_a = a.array().log();
  const double tau = damping(rho, epsilon), mass = a.sum();
  const double tolerance = effective_tolerance<T>(options);
  Symmetric out;
  out.f = VectorXd::Zero(a.size());
  for (;;) {
    geometry.lse_rows(log_a + out.f / epsilon, epsilon, out.lse, options.threads,
                      options.interrupt);
    if (options.interrupt && options.interrupt->load()) {
      out.status = Status::Interrupted;
      return out;
    }
    const VectorXd r = detail::marginal(log_a, out.f, out.lse, epsilon);
    const VectorXd target = detail::target(a, out.f, rho);
    out.value = 2 * detail::conjugate_term(a, out.f, rho) - epsilon * (r.sum() - mass * mass);
    if (!r.allFinite() || !std::isfinite(out.value)) {
      out.status = Status::NumericalFailure;
      return out;
    }
    if ((r - target).lpNorm<1>() <= tolerance * target.sum()) {
      out.status = Status::Converged;
      return out;
    }
    if (out.iterations == options.max_iterations) return out;
    ++out.iterations;
    const VectorXd next = (out.lse.array() == -kInf).select(0.0, -tau * epsilon * out.lse.array());
    out.f = (out.f + next) / 2;
  }
}

// d OT / d w_i of one side at the potentials (envelope theorem): the side's conjugate term's
// derivative, minus epsilon (P 1 / w - m_other), with P 1 / w = exp(f / epsilon + lse).
VectorXd weight_gradient(const VectorXd& potential, const VectorXd& lse, double epsilon, double rho,
                         double other_mass) {
  VectorXd conjugate = potential;
  if (rho != kInf) conjugate = -rho * ((-potential.array() / rho).exp() - 1);
  return conjugate.array() -
         epsilon * (detail::exp_or_zero(potential.array() / epsilon + lse.array()) - other_mass);
}

// sum_j P_ij grad_1 c(p_i, q_j), P_ij = exp(alpha_i + beta_j - c(p_i, q_j) / epsilon), with
// grad_1 c = u p - v q (lib/detail/metrics.hpp).
template <typename T>
Matrix<double> transport_gradient(const Matrix<T>& p, const Matrix<T>& q, Metric metric,
                                  const VectorXd& alpha, const VectorXd& beta, double epsilon,
                                  int threads) {
  const PointCloud<T> cloud(p, q, metric);
  const Matrix<double> pd = p.template cast<double>(), qd = q.template cast<double>();
  const VectorXd p_sq = pd.rowwise().squaredNorm(), q_sq = qd.rowwise().squaredNorm();
  Matrix<double> out = Matrix<double>::Zero(p.rows(), p.cols());
  detail::with_metric(metric, [&](auto ops) {
    detail::for_each_tile(cloud, detail::Along::Rows, threads,
                          [&](Index i0, Index j0, const typename Geometry<T>::Tile& tile) {
                            const Eigen::ArrayXXd c = tile.template cast<double>().array();
                            Eigen::ArrayXXd z = -c / epsilon;
                            z.colwise() += alpha.segment(i0, c.rows()).array();
                            z.rowwise() += beta.segment(j0, c.cols()).transpose().array();
                            const Eigen::ArrayXXd plan = detail::exp_or_zero(z);
                            Eigen::MatrixXd u(c.rows(), c.cols()), v(c.rows(), c.cols());
                            for (Index j = 0; j < c.cols(); ++j) {
                              for (Index i = 0; i < c.rows(); ++i) {
                                const detail::Gradient g =
                                    ops.gradient(c(i, j), p_sq[i0 + i], q_sq[j0 + j]);
                                u(i, j) = plan(i, j) * g.u;
                                v(i, j) = plan(i, j) * g.v;
                              }
                            }
                            out.middleRows(i0, c.rows()) +=
                                u.rowwise().sum().asDiagonal() * pd.middleRows(i0, c.rows()) -
                                v * qd.middleRows(j0, c.cols());
                          });
  });
  return out;
}

// The divergence and its weight gradients, with what the position gradients need.
template <typename T>
struct Pieces {
  DivergenceResult result;
  Result xy;
  Symmetric xx, yy;
};

template <typename T>
Pieces<T> divergence_pieces(std::shared_ptr<const Geometry<T>> xy,
                            std::shared_ptr<const Geometry<T>> xx,
                            std::shared_ptr<const Geometry<T>> yy, const Vector<T>& a,
                            const Vector<T>& b, double epsilon, double rho,
                            const SolverOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  Problem<T> p(xy, epsilon);
  p.a = a;
  p.b = b;
  p.rho_a = p.rho_b = rho;
  validate(p, options);
  for (const auto& [name, geometry, size] :
       {std::tuple{"cost_xx", &xx, a.size()}, std::tuple{"cost_yy", &yy, b.size()}}) {
    if (!*geometry || (*geometry)->rows() != size || (*geometry)->cols() != size) {
      throw InvalidArgument(std::string(name) + ": expected a symmetric " + std::to_string(size) +
                                " x " + std::to_string(size) + " cost",
                            name);
    }
  }
  Pieces<T> out;
  out.xy = solve(p, options);
  const VectorXd ad = a.template cast<double>(), bd = b.template cast<double>();
  out.xx = solve_symmetric(*xx, ad, epsilon, rho, options);
  out.yy = solve_symmetric(*yy, bd, epsilon, rho, options);
  DivergenceResult& r = out.result;
  const double mass_a = ad.sum(), mass_b = bd.sum();
  r.ot_xy = out.xy.dual;
  r.ot_xx = out.xx.value;
  r.ot_yy = out.yy.value;
  r.divergence =
      r.ot_xy - (r.ot_xx + r.ot_yy) / 2 + epsilon * (mass_a - mass_b) * (mass_a - mass_b) / 2;
  r.iterations = out.xy.iterations + out.xx.iterations + out.yy.iterations;
  r.status = out.xy.status;
  r.message = out.xy.converged() ? "" : "OT(a, b): " + out.xy.message;
  for (const auto& [name, s] : {std::pair{"OT(a, a)", &out.xx}, std::pair{"OT(b, b)", &out.yy}}) {
    if (r.status == Status::Converged && s->status != Status::Converged) {
      r.status = s->status;
      r.message = std::string(name) + ": " + to_string(s->status) + " after " +
                  std::to_string(s->iterations) + " iterations";
    }
  }
  // Gradients in the weights: OT(a, b)'s, minus half of OT(a, a)'s (a is on both its sides),
  // and the mass term's.
  VectorXd row_lse, col_lse;
  xy->lse_rows(p.log_col_factor(out.xy.g), epsilon, row_lse, options.threads);
  xy->lse_cols(p.log_row_factor(out.xy.f), epsilon, col_lse, options.threads);
  const double mass_term = epsilon * (mass_a - mass_b);
  r.grad_a = weight_gradient(out.xy.f, row_lse, epsilon, rho, mass_b) -
             weight_gradient(out.xx.f, out.xx.lse, epsilon, rho, mass_a);
  r.grad_a.array() += mass_term;
  r.grad_b = weight_gradient(out.xy.g, col_lse, epsilon, rho, mass_a) -
             weight_gradient(out.yy.f, out.yy.lse, epsilon, rho, mass_b);
  r.grad_b.array() -= mass_term;
  r.solve_time_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace

template <typename T>
DivergenceResult sinkhorn_divergence(std::shared_ptr<const Geometry<T>> xy,
                                     std::shared_ptr<const Geometry<T>> xx,
                                     std::shared_ptr<const Geometry<T>> yy, const Vector<T>& a,
                                     const Vector<T>& b, double epsilon, double rho,
                                     const SolverOptions& options) {
  return divergence_pieces(xy, xx, yy, a, b, epsilon, rho, options).result;
}

template <typename T>
DivergenceResult sinkhorn_divergence(const Matrix<T>& x, const Matrix<T>& y, Metric metric,
                                     const Vector<T>& a, const Vector<T>& b, double epsilon,
                                     double rho, const SolverOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  Pieces<T> pieces = divergence_pieces<T>(
      std::make_shared<PointCloud<T>>(x, y, metric), std::make_shared<PointCloud<T>>(x, x, metric),
      std::make_shared<PointCloud<T>>(y, y, metric), a, b, epsilon, rho, options);
  // Positions: OT(x, y)'s plan, minus OT(x, x)'s counted once (x is on both its sides, and the
  // half in front of it cancels the two).
  const VectorXd log_a = a.template cast<double>().array().log(),
                 log_b = b.template cast<double>().array().log();
  const VectorXd alpha = log_a + pieces.xy.f / epsilon, beta = log_b + pieces.xy.g / epsilon;
  const VectorXd alpha_x = log_a + pieces.xx.f / epsilon, beta_y = log_b + pieces.yy.f / epsilon;
  DivergenceResult& r = pieces.result;
  r.grad_x = transport_gradient(x, y, metric, alpha, beta, epsilon, options.threads) -
             transport_gradient(x, x, metric, alpha_x, alpha_x, epsilon, options.threads);
  r.grad_y = transport_gradient(y, x, metric, beta, alpha, epsilon, options.threads) -
             transport_gradient(y, y, metric, beta_y, beta_y, epsilon, options.threads);
  r.solve_time_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

template DivergenceResult sinkhorn_divergence(const Matrix<float>&, const Matrix<float>&, Metric,
                                              const Vector<float>&, const Vector<float>&, double,
                                              double, const SolverOptions&);
template DivergenceResult sinkhorn_divergence(const Matrix<double>&, const Matrix<double>&, Metric,
                                              const Vector<double>&, const Vector<double>&, double,
                                              double, const SolverOptions&);
template DivergenceResult sinkhorn_divergence(std::shared_ptr<const Geometry<float>>,
                                              std::shared_ptr<const Geometry<float>>,
                                              std::shared_ptr<const Geometry<float>>,
                                              const Vector<float>&, const Vector<float>&, double,
                                              double, const SolverOptions&);
template DivergenceResult sinkhorn_divergence(std::shared_ptr<const Geometry<double>>,
                                              std::shared_ptr<const Geometry<double>>,
                                              std::shared_ptr<const Geometry<double>>,
                                              const Vector<double>&, const Vector<double>&, double,
                                              double, const SolverOptions&);

}  // namespace eot
