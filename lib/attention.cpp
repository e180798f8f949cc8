#include "eot/attention.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <sstream>

#include "detail/exp.hpp"
#include "detail/tiles.hpp"
#include "eot/error.hpp"
#include "eot/memory.hpp"
#include "eot/solver.hpp"

namespace eot::attention {

namespace {

using detail::exp_or_zero;

constexpr Index kQueryBlock = 64;
constexpr Index kKeyTile = 256;

std::string shape(const char* name, Index rows, Index cols) {
  return std::string(name) + " (" + std::to_string(rows) + " x " + std::to_string(cols) + ")";
}

template <typename T>
void check_finite(const char* name, const Matrix<T>& x) {
  for (Index i = 0; i < x.rows(); ++i) {
    for (Index j = 0; j < x.cols(); ++j) {
      if (!std::isfinite(x(i, j))) {
        std::ostringstream message;
        message << name << "(" << i << ", " << j << ") is " << x(i, j)
                << ": entries must be finite";
        throw InvalidArgument(message.str());
      }
    }
  }
}

// Checks shapes and values; returns epsilon (sqrt(d) when not given).
template <typename T>
double check(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v, double epsilon,
             const Mask<T>& mask) {
  if (q.size() == 0 || k.size() == 0 || v.size() == 0) {
    throw InvalidArgument("q, k and v must be non-empty: got " + shape("q", q.rows(), q.cols()) +
                          ", " + shape("k", k.rows(), k.cols()) + ", " +
                          shape("v", v.rows(), v.cols()));
  }
  if (q.cols() != k.cols()) {
    throw InvalidArgument("q has d = " + std::to_string(q.cols()) + " columns but k has " +
                          std::to_string(k.cols()));
  }
  if (v.rows() != k.rows()) {
    throw InvalidArgument("v has " + std::to_string(v.rows()) + " rows but k has " +
                          std::to_string(k.rows()) + " (one value per key)");
  }
  check_finite("q", q);
  check_finite("k", k);
  check_finite("v", v);
  if (!mask.key_padding.empty() && Index(mask.key_padding.size()) != k.rows()) {
    throw InvalidArgument("key_padding has " + std::to_string(mask.key_padding.size()) +
                          " entries but there are " + std::to_string(k.rows()) + " keys");
  }
  if (mask.bias.size() != 0) {
    if (mask.bias.rows() != q.rows() || mask.bias.cols() != k.rows()) {
      throw InvalidArgument(shape("bias", mask.bias.rows(), mask.bias.cols()) +
                            " must be n x m = " + std::to_string(q.rows()) + " x " +
                            std::to_string(k.rows()));
    }
    for (Index i = 0; i < mask.bias.rows(); ++i) {
      for (Index j = 0; j < mask.bias.cols(); ++j) {
        const T b = mask.bias(i, j);
        if (std::isnan(b) || b == std::numeric_limits<T>::infinity()) {
          std::ostringstream message;
          message << "bias(" << i << ", " << j << ") is " << b << ": it must be finite or -inf";
          throw InvalidArgument(message.str());
        }
      }
    }
  }
  if (std::isnan(epsilon) || std::isinf(epsilon)) {
    std::ostringstream message;
    message << "epsilon is " << epsilon << ": it must be finite (<= 0 means sqrt(d))";
    throw InvalidArgument(message.str());
  }
  return epsilon > 0 ? epsilon : std::sqrt(double(q.cols()));
}

// Scaled scores of queries [i0, i0 + ni) against keys [j0, j0 + nj), -inf where masked.
template <typename T>
void scores(const Matrix<T>& q, const Matrix<T>& k, const Mask<T>& mask, T inv_eps, Index i0,
            Index ni, Index j0, Index nj, Matrix<T>& s) {
  s.resize(ni, nj);
  s.noalias() = q.middleRows(i0, ni) * k.middleRows(j0, nj).transpose();
  s *= inv_eps;
  if (mask.bias.size() != 0) s += mask.bias.block(i0, j0, ni, nj);
  const T minus_inf = -std::numeric_limits<T>::infinity();
  for (Index c = 0; c < nj; ++c) {
    if (!mask.key_padding.empty() && mask.key_padding[j0 + c]) s.col(c).setConstant(minus_inf);
  }
  if (mask.causal) {
    for (Index r = 0; r < ni; ++r) {
      const Index first_hidden = std::max<Index>(i0 + r + 1 - j0, 0);  // key j > query i
      if (first_hidden < nj) s.row(r).tail(nj - first_hidden).setConstant(minus_inf);
    }
  }
}

}  // namespace

template <typename T>
Matrix<T> forward(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v, double epsilon,
                  const Mask<T>& mask, Matrix<T>* weights, int threads) {
  const T inv_eps = T(1 / check(q, k, v, epsilon, mask));
  const Index n = q.rows(), m = k.rows(), dv = v.cols();
  Matrix<T> out(n, dv);
  if (weights) {
    require_dense_fits(n, m, sizeof(T), "the attention weights",
                       "call forward() without weights: the fused kernel never forms them");
    weights->resize(n, m);
  }
  const Index blocks = (n + kQueryBlock - 1) / kQueryBlock;
  using Column = Eigen::Array<T, Eigen::Dynamic, 1>;
#pragma omp parallel num_threads( \
    detail::thread_count(threads)) if (blocks > 1 && n * m >= detail::kParallelMinimum)
  {
    const detail::FlushDenormals flush;
    Matrix<T> s, acc;
#pragma omp for schedule(static)
    for (Index block = 0; block < blocks; ++block) {
      const Index i0 = block * kQueryBlock, ni = std::min(kQueryBlock, n - i0);
      // Online softmax: running row max, row sum and output, rescaled when the max moves.
      Column max = Column::Constant(ni, -std::numeric_limits<T>::infinity()),
             sum = Column::Zero(ni);
      acc.setZero(ni, dv);
      for (Index j0 = 0; j0 < m; j0 += kKeyTile) {
        const Index nj = std::min(kKeyTile, m - j0);
        scores(q, k, mask, inv_eps, i0, ni, j0, nj, s);
        const Column new_max = max.max(s.rowwise().maxCoeff().array());
        const Column shift = new_max.isInf().select(T(0), new_max);  // all masked so far: 0
        const Column scale = exp_or_zero(max - shift);
        s = exp_or_zero(s.array().colwise() - shift).matrix();
        sum = sum * scale + s.rowwise().sum().array();
        acc = scale.matrix().asDiagonal() * acc;
        acc.noalias() += s * v.middleRows(j0, nj);
        max = new_max;
      }
      const Column inverse = (sum > 0).select(sum.inverse(), T(0));  // a fully masked row: 0
      out.middleRows(i0, ni) = inverse.matrix().asDiagonal() * acc;
      if (weights) {
        const Column shift = max.isInf().select(T(0), max);
        for (Index j0 = 0; j0 < m; j0 += kKeyTile) {
          const Index nj = std::min(kKeyTile, m - j0);
          scores(q, k, mask, inv_eps, i0, ni, j0, nj, s);
          weights->block(i0, j0, ni, nj) =
              inverse.matrix().asDiagonal() * exp_or_zero(s.array().colwise() - shift).matrix();
        }
      }
    }
  }
  return out;
}

template <typename T>
Matrix<T> forward_batched(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                          Index batch_heads, double epsilon, const Mask<T>& mask, int threads) {
  if (batch_heads < 1 || q.rows() % batch_heads != 0 || k.rows() % batch_heads != 0 ||
      v.rows() != k.rows()) {
    throw InvalidArgument("batch_heads = " + std::to_string(batch_heads) +
                          " must divide the rows of q (" + std::to_string(q.rows()) +
                          ") and of k and v (" + std::to_string(k.rows()) + ", " +
                          std::to_string(v.rows()) + ")");
  }
  const Index n = q.rows() / batch_heads, m = k.rows() / batch_heads;
  Matrix<T> out(q.rows(), v.cols());
  // Problems are shared among threads, one thread each; an exception leaves the loop through
  // `error` (it may not cross an OpenMP region).
  std::string error;
#pragma omp parallel for num_threads(detail::thread_count(threads)) \
    schedule(dynamic) if (batch_heads > 1)
  for (Index h = 0; h < batch_heads; ++h) {
    try {
      out.middleRows(h * n, n) = forward<T>(q.middleRows(h * n, n), k.middleRows(h * m, m),
                                            v.middleRows(h * m, m), epsilon, mask, nullptr, 1);
    } catch (const InvalidArgument& e) {
#pragma omp critical
      if (error.empty()) error = "batch_heads block " + std::to_string(h) + ": " + e.what();
    }
  }
  if (!error.empty()) throw InvalidArgument(error);
  return out;
}

namespace {

// The attention problem for the core solver: the cost -<q, k> - epsilon bias (+inf where a pair
// is masked; matrix-free when there is no mask or bias), a_i = 1 except for queries that see no
// key (0: a zero row), b_j = 1 except for padding keys (0), and a free column side.
template <typename T>
Problem<T> attention_problem(const Matrix<T>& q, const Matrix<T>& k, double epsilon,
                             const Mask<T>& mask, int threads) {
  const Index n = q.rows(), m = k.rows();
  std::shared_ptr<const Geometry<T>> geometry;
  if (!mask.causal && mask.bias.size() == 0) {
    geometry = std::make_shared<PointCloud<T>>(q, k, Metric::NegDot);
  } else {
    Matrix<T> cost = -(q * k.transpose());
    if (mask.bias.size() != 0) cost -= T(epsilon) * mask.bias;  // -inf bias gives +inf cost
    for (Index i = 0; i < n && mask.causal; ++i) {
      cost.row(i).tail(m - std::min(m, i + 1)).setConstant(std::numeric_limits<T>::infinity());
    }
    geometry = std::make_shared<CostMatrix<T>>(std::move(cost));
  }
  Problem<T> problem(geometry, epsilon);
  problem.rho_a = kInf;
  problem.rho_b = 0;
  problem.b = Vector<T>::Ones(m);
  for (Index j = 0; j < Index(mask.key_padding.size()); ++j) {
    if (mask.key_padding[j]) problem.b[j] = 0;
  }
  Eigen::VectorXd seen;
  geometry->lse_rows(problem.b.template cast<double>().array().log(), 1.0, seen, threads);
  problem.a = (seen.array() == -kInf).select(0.0, Eigen::VectorXd::Ones(n)).template cast<T>();
  return problem;
}

}  // namespace

template <typename T>
Matrix<T> forward_via_solver(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                             double epsilon, const Mask<T>& mask, Matrix<T>* weights, int threads) {
  epsilon = check(q, k, v, epsilon, mask);
  const Problem<T> problem = attention_problem(q, k, epsilon, mask, threads);
  if (problem.a.sum() == 0) {  // no query sees any key
    if (weights) *weights = Matrix<T>::Zero(q.rows(), k.rows());
    return Matrix<T>::Zero(q.rows(), v.cols());
  }
  SolverOptions options;
  options.threads = threads;
  const Result result = solve(problem, options);
  if (weights) *weights = problem.plan(result.f, result.g, threads);
  return problem.apply_plan(result.f, result.g, v.template cast<double>(), threads)
      .template cast<T>();
}

template <typename T>
TwoSided<T> sinkhorn(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v, double epsilon,
                     const Mask<T>& mask, int normalizations, int threads) {
  epsilon = check(q, k, v, epsilon, mask);
  if (normalizations < 0) {
    throw InvalidArgument("normalizations is " + std::to_string(normalizations) +
                          ": it must be >= 0 (0 = to convergence)");
  }
  Problem<T> problem = attention_problem(q, k, epsilon, mask, threads);
  TwoSided<T> out;
  out.status = normalizations == 0 ? Status::Converged : Status::MaxIterationsReached;
  if (problem.a.sum() == 0) {
    out.weights = Matrix<T>::Zero(q.rows(), k.rows());
    out.output = Matrix<T>::Zero(q.rows(), v.cols());
    return out;
  }
  // Columns share the mass of the queries equally (n / m without masks); a column that no
  // query sees keeps weight 0.
  Eigen::VectorXd reached;
  problem.geometry->lse_cols(problem.a.template cast<double>().array().log(), 1.0, reached,
                             threads);
  for (Index j = 0; j < problem.m(); ++j) {
    if (reached[j] == -kInf) problem.b[j] = 0;
  }
  problem.b *= problem.a.sum() / problem.b.sum();
  problem.rho_b = kInf;

  SolverOptions options;
  options.threads = threads;
  if (normalizations > 0) {
    options.max_iterations = std::max(normalizations / 2, 1);
    options.tolerance = std::numeric_limits<double>::min();  // exactly that many
  }
  Eigen::VectorXd f = Eigen::VectorXd::Zero(problem.n()), g = Eigen::VectorXd::Zero(problem.m());
  if (normalizations != 1) {
    const Result result = solve(problem, options);
    f = result.f;
    g = result.g;
    out.status = result.status;
  }
  if (normalizations % 2 == 1) {
    // A last row normalization: the one-sided problem with the column weights b exp(g / eps),
    // shifted by max g against overflow; its potential f - max g pairs with g.
    Problem<T> rows = problem;
    const double top = g.maxCoeff();
    rows.b = (problem.b.template cast<double>().array() * ((g.array() - top) / epsilon).exp())
                 .template cast<T>();
    rows.rho_b = 0;
    f = solve(rows, options).f.array() - top;
  }
  out.normalizations = normalizations;
  out.weights = problem.plan(f, g, threads);
  out.output = problem.apply_plan(f, g, v.template cast<double>(), threads).template cast<T>();
  out.column_error = (out.weights.template cast<double>().colwise().sum().transpose() -
                      problem.b.template cast<double>())
                         .cwiseAbs()
                         .sum();
  return out;
}

const char* to_string(Regularizer regularizer) {
  switch (regularizer) {
    case Regularizer::Softmax:
      return "softmax";
    case Regularizer::Sparsemax:
      return "sparsemax";
    case Regularizer::Entmax15:
      return "entmax15";
  }
  return "unknown";
}

Regularizer regularizer_from_string(const std::string& name) {
  for (Regularizer r : {Regularizer::Softmax, Regularizer::Sparsemax, Regularizer::Entmax15}) {
    if (name == to_string(r)) return r;
  }
  throw InvalidArgument("regularizer: unknown regularizer '" + name +
                        "'; expected softmax, sparsemax or entmax15");
}

template <typename T>
Matrix<T> weights(const Matrix<T>& q, const Matrix<T>& k, double epsilon, const Mask<T>& mask,
                  Regularizer regularizer, int threads) {
  Matrix<T> p;
  const Matrix<T> no_values = Matrix<T>::Zero(k.rows(), 1);  // forward() and check() want some V
  if (regularizer == Regularizer::Softmax) {
    forward(q, k, no_values, epsilon, mask, &p, threads);
    return p;
  }
  const T inv_eps = T(1 / check(q, k, no_values, epsilon, mask));
  require_dense_fits(q.rows(), k.rows(), 2 * sizeof(T), "the attention weights",
                     "split the queries into blocks");
  Matrix<T> s;
  scores(q, k, mask, inv_eps, 0, q.rows(), 0, k.rows(), s);
  p.resize(q.rows(), k.rows());
  for (Index i = 0; i < q.rows(); ++i) {
    const Eigen::VectorXd z = s.row(i).transpose().template cast<double>();
    if (z.maxCoeff() == -kInf) {
      p.row(i).setZero();  // a query that sees no key
      continue;
    }
    const Eigen::VectorXd row = regularizer == Regularizer::Sparsemax ? sparsemax(z) : entmax15(z);
    p.row(i) = row.transpose().template cast<T>();
  }
  return p;
}

template <typename T>
Gradients<T> backward(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                      const Matrix<T>& grad_output, double epsilon, const Mask<T>& mask,
                      int threads, Regularizer regularizer) {
  epsilon = check(q, k, v, epsilon, mask);
  if (grad_output.rows() != q.rows() || grad_output.cols() != v.cols()) {
    throw InvalidArgument(shape("grad_output", grad_output.rows(), grad_output.cols()) +
                          " must have the output's shape n x dv = " + std::to_string(q.rows()) +
                          " x " + std::to_string(v.cols()));
  }
  check_finite("grad_output", grad_output);
  require_dense_fits(q.rows(), k.rows(), 3 * sizeof(T), "the backward pass",
                     "split the queries into blocks (the gradients add up over blocks)");
  Gradients<T> g;
  const Matrix<T> u = grad_output * v.transpose();  // u_ij = <dO_i, v_j> = dL/dp_ij
  Matrix<T> p;
  if (regularizer == Regularizer::Softmax) {
    const Matrix<T> out = forward(q, k, v, epsilon, mask, &p, threads);
    const Vector<T> baseline = grad_output.cwiseProduct(out).rowwise().sum();  // D_i = <dO_i, O_i>
    g.ds = (p.array() * (u.colwise() - baseline).array() / T(epsilon)).matrix();
  } else {
    // The Jacobian of sparsemax / 1.5-entmax is diag(w) - w w^T / sum(w).
    p = weights(q, k, epsilon, mask, regularizer, threads);
    const Matrix<T> w = regularizer == Regularizer::Sparsemax
                            ? Matrix<T>((p.array() > 0).template cast<T>())
                            : Matrix<T>(p.cwiseSqrt());
    const Vector<T> total = w.rowwise().sum();
    const Vector<T> baseline =
        (total.array() > 0).select(w.cwiseProduct(u).rowwise().sum().array() / total.array(), T(0));
    g.ds = (w.array() * (u.colwise() - baseline).array() / T(epsilon)).matrix();
  }
  g.dq = g.ds * k;
  g.dk = g.ds.transpose() * q;
  g.dv = p.transpose() * grad_output;
  return g;
}

template <typename T>
Matrix<T> score_gradient_advantage(const Matrix<T>& weights, const Matrix<T>& v,
                                   const Matrix<T>& grad_output, double epsilon) {
  const Matrix<T> u = grad_output * v.transpose();                     // u_ij = <dO_i, v_j>
  const Vector<T> expected = weights.cwiseProduct(u).rowwise().sum();  // E_{p_i}[u_i]
  return (weights.array() * (u.colwise() - expected).array() / T(epsilon)).matrix();
}

template <typename T>
WeightStats weight_stats(const Matrix<T>& weights, const Matrix<T>& q, const Matrix<T>& k,
                         const Mask<T>& mask) {
  check(q, k, Matrix<T>(Matrix<T>::Zero(k.rows(), 1)), 1.0, mask);
  if (weights.rows() != q.rows() || weights.cols() != k.rows()) {
    throw InvalidArgument(shape("weights", weights.rows(), weights.cols()) + " must be n x m = " +
                          std::to_string(q.rows()) + " x " + std::to_string(k.rows()));
  }
  Matrix<T> visible;  // -inf where the query does not see the key
  scores(q, k, mask, T(1), 0, q.rows(), 0, k.rows(), visible);
  const Matrix<T> dots = q * k.transpose();
  WeightStats stats;
  Index rows = 0;
  for (Index i = 0; i < q.rows(); ++i) {
    const Eigen::Array<bool, Eigen::Dynamic, 1> seen =
        visible.row(i).transpose().array() > -std::numeric_limits<T>::infinity();
    const Index count = seen.count();
    if (count == 0) continue;
    ++rows;
    const Eigen::ArrayXd p = weights.row(i).transpose().template cast<double>().array();
    const Eigen::ArrayXd d =
        seen.select(dots.row(i).transpose().template cast<double>().array(), -kInf);
    const Eigen::ArrayXd winners = (d == d.maxCoeff()).template cast<double>();
    stats.mean_entropy -= (p > 0).select(p * p.log(), 0.0).sum();
    stats.mean_max_weight += p.maxCoeff();
    stats.distance_to_hard += 0.5 * (p - winners / winners.sum()).abs().sum();
    stats.distance_to_uniform += 0.5 * seen.select((p - 1.0 / double(count)).abs(), p.abs()).sum();
  }
  if (rows > 0) {
    stats.mean_entropy /= double(rows);
    stats.mean_max_weight /= double(rows);
    stats.distance_to_hard /= double(rows);
    stats.distance_to_uniform /= double(rows);
  }
  return stats;
}

double lse_potential(const Eigen::VectorXd& s, double epsilon) {
  const double top = s.maxCoeff();
  return top + epsilon * std::log(((s.array() - top) / epsilon).exp().sum());
}

Eigen::VectorXd softmax(const Eigen::VectorXd& s, double epsilon) {
  const Eigen::ArrayXd e = ((s.array() - s.maxCoeff()) / epsilon).exp();
  return e / e.sum();
}

Eigen::MatrixXd fisher(const Eigen::VectorXd& p) {
  return Eigen::MatrixXd(p.asDiagonal()) - p * p.transpose();
}

double bregman(const Eigen::VectorXd& s2, const Eigen::VectorXd& s1, double epsilon) {
  return lse_potential(s2, epsilon) - lse_potential(s1, epsilon) -
         softmax(s1, epsilon).dot(s2 - s1);
}

namespace {

// The support threshold tau of sparsemax (power 1) or 1.5-entmax (power 2) on x = z or z / 2,
// from the sorted finite entries: the largest support size whose threshold keeps it.
double threshold(const Eigen::VectorXd& x, int power) {
  std::vector<double> sorted;
  for (Index j = 0; j < x.size(); ++j) {
    if (x[j] > -kInf) sorted.push_back(x[j]);
  }
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  double sum = 0, sum_sq = 0, tau = sorted[0] - 1;
  for (std::size_t k = 1; k <= sorted.size(); ++k) {
    const double top = sorted[k - 1];
    sum += top;
    sum_sq += top * top;
    double candidate;
    if (power == 1) {
      candidate = (sum - 1) / double(k);
    } else {  // solve sum_{j<=k} (x_j - tau)^2 = 1 for the root below the mean
      const double mean = sum / double(k), spread = sum_sq / double(k) - mean * mean;
      candidate = mean - std::sqrt(std::max((1 - double(k) * spread) / double(k), 0.0));
    }
    if (candidate >= top) break;
    tau = candidate;
  }
  return tau;
}

}  // namespace

Eigen::VectorXd sparsemax(const Eigen::VectorXd& z) {
  const double tau = threshold(z, 1);
  return (z.array() - tau).max(0.0);
}

Eigen::VectorXd entmax15(const Eigen::VectorXd& z) {
  const Eigen::ArrayXd half = z.array() / 2;
  const double tau = threshold(half, 2);
  return (half - tau).max(0.0).square();
}

#define EOT_INSTANTIATE(T)                                                                        \
  template Matrix<T> forward(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, double,        \
                             const Mask<T>&, Matrix<T>*, int);                                    \
  template Matrix<T> forward_via_solver(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,     \
                                        double, const Mask<T>&, Matrix<T>*, int);                 \
  template Gradients<T> backward(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,            \
                                 const Matrix<T>&, double, const Mask<T>&, int, Regularizer);     \
  template Matrix<T> weights(const Matrix<T>&, const Matrix<T>&, double, const Mask<T>&,          \
                             Regularizer, int);                                                   \
  template Matrix<T> forward_batched(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, Index, \
                                     double, const Mask<T>&, int);                                \
  template WeightStats weight_stats(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,         \
                                    const Mask<T>&);                                              \
  template TwoSided<T> sinkhorn(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, double,     \
                                const Mask<T>&, int, int);                                        \
  template Matrix<T> score_gradient_advantage(const Matrix<T>&, const Matrix<T>&,                 \
                                              const Matrix<T>&, double);
EOT_INSTANTIATE(float)
EOT_INSTANTIATE(double)
#undef EOT_INSTANTIATE

}  // namespace eot::attention
