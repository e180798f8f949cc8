#include "eot/attention.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <sstream>

#include "detail/tiles.hpp"
#include "eot/error.hpp"
#include "eot/memory.hpp"
#include "eot/parallel.hpp"
#include "eot/solver.hpp"
#include "kernels/kernels.hpp"

namespace eot::attention {

namespace {

// Query blocks: the unit of work shared among threads (lib/kernels has the tile sizes).
constexpr Index kQueryBlock = 128;

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
  if (std::isnan(epsilon) || std::isinf(epsilon)) {
    std::ostringstream message;
    message << "epsilon is " << epsilon << ": it must be finite (<= 0 means sqrt(d))";
    throw InvalidArgument(message.str());
  }
  // The kernels scale by 1 / epsilon in T: it must not overflow (0 times it would be NaN). And
  // the potentials, about epsilon log m, must not either.
  const double largest = double(std::numeric_limits<T>::max());
  if (epsilon > 0 && !(1 / epsilon <= largest && epsilon <= 1e-6 * largest)) {
    std::ostringstream message;
    message << "epsilon is " << epsilon << ": too " << (epsilon < 1 ? "small" : "large") << " for "
            << (std::is_same_v<T, float> ? "float" : "double") << " (1 / epsilon and epsilon log m "
            << "must stay within " << 1e-6 * largest << ")";
    throw InvalidArgument(message.str());
  }
  // The scores |<q_i, k_j>| <= |q_i| |k_j|, and the scaled ones (divided by epsilon), must stay
  // well within T: an infinite score would make the softmax NaN.
  if (std::isfinite(epsilon)) {
    const double scale = epsilon > 0 ? epsilon : std::sqrt(double(q.cols()));
    auto log10_largest_norm = [](const Matrix<T>& x) {  // without overflow: |x| may be 1e300
      return std::log10(x.template cast<double>().rowwise().stableNorm().maxCoeff());
    };
    // A zero q or k makes every score 0 (and the sum below -inf + inf when the other's norm
    // overflows): nothing to bound.
    const double product =
        q.isZero(0) || k.isZero(0) ? -kInf : log10_largest_norm(q) + log10_largest_norm(k);
    const double exponent = product - std::min(std::log10(scale), 0.0);
    const double limit = 0.25 * double(std::numeric_limits<T>::max());
    if (!(exponent <= std::log10(limit))) {
      std::ostringstream message;
      message << (scale < 1 ? "q and k: the scaled scores <q_i, k_j> / epsilon may reach 1e"
                            : "q and k: the scores <q_i, k_j> may reach 1e")
              << (std::isfinite(exponent) ? int(std::min(exponent, 1e6)) : 999999)
              << ", beyond what " << (std::is_same_v<T, float> ? "float" : "double") << " holds ("
              << limit << (scale < 1 ? "); rescale q or k, or raise epsilon" : "); rescale q or k");
      throw InvalidArgument(message.str());
    }
  }
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
  return epsilon > 0 ? epsilon : std::sqrt(double(q.cols()));
}

// The kernels' view of a head (q, k, v of one problem) and its mask; the key padding is copied
// into `padding` as bytes.
template <typename T>
kernels::Head<T> head_of(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v, T inv_eps,
                         const Mask<T>& mask, std::vector<unsigned char>& padding) {
  padding.assign(mask.key_padding.begin(), mask.key_padding.end());
  const kernels::AttentionMask<T> view{mask.bias.size() ? mask.bias.data() : nullptr,
                                       mask.bias.cols(), padding.empty() ? nullptr : padding.data(),
                                       mask.causal};
  return {q.data(), k.data(), v.data(), q.rows(), k.rows(), q.cols(), v.cols(), inv_eps, view};
}

// Scaled scores of all queries against all keys, -inf where masked.
template <typename T>
Matrix<T> scores(const Matrix<T>& q, const Matrix<T>& k, const Mask<T>& mask, T inv_eps) {
  std::vector<unsigned char> padding;
  Matrix<T> s(q.rows(), k.rows());
  kernels::table<T>().attention_scores(head_of(q, k, k, inv_eps, mask, padding), 0, q.rows(), 0,
                                       k.rows(), s.data());
  return s;
}

// Runs block(i0, ni) for the query blocks of n queries against m keys, shared among threads.
template <typename Block>
void for_each_query_block(Index n, Index m, int threads, Block&& block) {
  const Index blocks = (n + kQueryBlock - 1) / kQueryBlock;
  parallel_for(blocks, n * m >= detail::kParallelMinimum ? threads : 1, [&](Index b) {
    const detail::FlushDenormals flush;
    const Index i0 = b * kQueryBlock;
    block(i0, std::min(kQueryBlock, n - i0));
  });
}

// The forward kernel: O = softmax(s) V by online softmax over key tiles, one query block at a
// time. Each query's max score and sum_j exp(s_ij - max) go to `row_max` and `row_sum` (n
// entries each; -inf and 0 for a query that sees no key).
template <typename T>
void forward_kernel(const kernels::Head<T>& head, Matrix<T>& out, T* row_max, T* row_sum,
                    int threads) {
  out.resize(head.n, head.dv);
  for_each_query_block(head.n, head.m, threads, [&](Index i0, Index ni) {
    kernels::table<T>().attention_forward(head, i0, ni, out.data() + i0 * head.dv, row_max + i0,
                                          row_sum + i0);
  });
}

// The attention weights exp(s - max) / sum, n x m, tile by tile, from forward_kernel()'s row
// statistics.
template <typename T>
void weights_kernel(const kernels::Head<T>& head, const Vector<T>& row_max,
                    const Vector<T>& row_sum, Matrix<T>& p, int threads) {
  p.resize(head.n, head.m);
  for_each_query_block(head.n, head.m, threads, [&](Index i0, Index ni) {
    kernels::table<T>().attention_weights(head, i0, ni, row_max.data() + i0, row_sum.data() + i0,
                                          p.data() + i0 * head.m);
  });
}

// Each query's log sum_j exp(s_ij) from its max and shifted sum: -inf if it sees no key.
template <typename T>
Vector<T> log_sum_exp_of(const Vector<T>& row_max, const Vector<T>& row_sum) {
  return (row_sum.array() > 0)
      .select(row_max.array() + row_sum.array().log(), -std::numeric_limits<T>::infinity());
}

}  // namespace

template <typename T>
Matrix<T> forward(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v, double epsilon,
                  const Mask<T>& mask, Matrix<T>* weights, int threads) {
  const T inv_eps = T(1 / check(q, k, v, epsilon, mask));
  if (weights) {
    require_dense_fits(q.rows(), k.rows(), sizeof(T), "the attention weights",
                       "call forward() without weights: the fused kernel never forms them");
  }
  Matrix<T> out;
  Vector<T> row_max(q.rows()), row_sum(q.rows());
  std::vector<unsigned char> padding;
  const kernels::Head<T> head = head_of(q, k, v, inv_eps, mask, padding);
  forward_kernel(head, out, row_max.data(), row_sum.data(), threads);
  if (weights) weights_kernel(head, row_max, row_sum, *weights, threads);
  return out;
}

namespace {

// Checks that batch_heads divides the rows; returns the rows per head, n and m.
template <typename T>
std::pair<Index, Index> heads_shape(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                                    Index batch_heads) {
  if (batch_heads < 1 || q.rows() % batch_heads != 0 || k.rows() % batch_heads != 0 ||
      v.rows() != k.rows()) {
    throw InvalidArgument("batch_heads = " + std::to_string(batch_heads) +
                          " must divide the rows of q (" + std::to_string(q.rows()) +
                          ") and of k and v (" + std::to_string(k.rows()) + ", " +
                          std::to_string(v.rows()) + ")");
  }
  return {q.rows() / batch_heads, k.rows() / batch_heads};
}

// Runs per_head(h) for every head, shared among threads, one thread each. A head's refusal is
// rethrown naming the head.
template <typename F>
void for_each_head(Index batch_heads, int threads, F&& per_head) {
  parallel_for(batch_heads, threads, [&](Index h) {
    try {
      per_head(h);
    } catch (const InvalidArgument& e) {
      throw InvalidArgument("batch_heads block " + std::to_string(h) + ": " + e.what());
    }
  });
}

}  // namespace

template <typename T>
Matrix<T> forward_batched(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                          Index batch_heads, double epsilon, const Mask<T>& mask, int threads,
                          Vector<T>* log_sum_exp) {
  const auto [n, m] = heads_shape(q, k, v, batch_heads);
  Matrix<T> out(q.rows(), v.cols());
  if (log_sum_exp) log_sum_exp->resize(q.rows());
  for_each_head(batch_heads, threads, [&, n = n, m = m](Index h) {
    const Matrix<T> qh = q.middleRows(h * n, n), kh = k.middleRows(h * m, m),
                    vh = v.middleRows(h * m, m);
    const T inv_eps = T(1 / check(qh, kh, vh, epsilon, mask));
    Matrix<T> oh;
    Vector<T> row_max(n), row_sum(n);
    std::vector<unsigned char> padding;
    // One head alone gets all the threads (over its query blocks).
    forward_kernel(head_of(qh, kh, vh, inv_eps, mask, padding), oh, row_max.data(), row_sum.data(),
                   batch_heads == 1 ? threads : 1);
    out.middleRows(h * n, n) = oh;
    if (log_sum_exp) log_sum_exp->segment(h * n, n) = log_sum_exp_of(row_max, row_sum);
  });
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
  validate(problem, options);  // also when no solve follows (one normalization)
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
    // A last row normalization, f_i = -epsilon LSE_j (log b_j + (g_j - C_ij) / epsilon), in the
    // log domain (as column weights, b exp(g / epsilon) underflows T where g spans more than
    // about 87 epsilon in float). A query that sees no key keeps f_i = 0 (its a_i is 0).
    Eigen::VectorXd lse;
    problem.geometry->lse_rows(problem.log_col_factor(g), epsilon, lse, threads);
    f = (lse.array() == -kInf).select(0.0, -epsilon * lse.array());
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
  return from_name(kRegularizers, name, "regularizer", "regularizer");
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
  const Matrix<T> s = scores(q, k, mask, inv_eps);
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
  require_backward_fits<T>(q.rows(), k.rows());
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
Gradients<T> backward_batched(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                              const Matrix<T>& grad_output, Index batch_heads, double epsilon,
                              const Mask<T>& mask, int threads, const Matrix<T>* output,
                              const Vector<T>* log_sum_exp) {
  const auto [n, m] = heads_shape(q, k, v, batch_heads);
  if (grad_output.rows() != q.rows() || grad_output.cols() != v.cols()) {
    throw InvalidArgument(shape("grad_output", grad_output.rows(), grad_output.cols()) +
                          " must have the output's shape (B*H*n) x dv = " +
                          std::to_string(q.rows()) + " x " + std::to_string(v.cols()));
  }
  if ((output == nullptr) != (log_sum_exp == nullptr)) {
    throw InvalidArgument("backward_batched: pass both output and log_sum_exp, or neither");
  }
  if (output && (output->rows() != q.rows() || output->cols() != v.cols() ||
                 log_sum_exp->size() != q.rows())) {
    throw InvalidArgument(shape("output", output->rows(), output->cols()) + " and log_sum_exp (" +
                          std::to_string(log_sum_exp->size()) +
                          ") must be forward_batched()'s: " + std::to_string(q.rows()) + " x " +
                          std::to_string(v.cols()) + " and " + std::to_string(q.rows()));
  }
  Gradients<T> g;
  g.dq.resize(q.rows(), q.cols());
  g.dk.resize(k.rows(), k.cols());
  g.dv.resize(v.rows(), v.cols());
  for_each_head(batch_heads, threads, [&, n = n, m = m](Index h) {
    const Matrix<T> qh = q.middleRows(h * n, n), kh = k.middleRows(h * m, m),
                    vh = v.middleRows(h * m, m), d_out = grad_output.middleRows(h * n, n);
    const T inv_eps = T(1 / check(qh, kh, vh, epsilon, mask));
    check_finite("grad_output", d_out);
    std::vector<unsigned char> padding;
    const kernels::Head<T> head = head_of(qh, kh, vh, inv_eps, mask, padding);
    Matrix<T> o;
    Vector<T> lse(n);
    if (output) {
      o = output->middleRows(h * n, n);
      lse = log_sum_exp->segment(h * n, n);
    } else {
      Vector<T> row_max(n), row_sum(n);
      forward_kernel(head, o, row_max.data(), row_sum.data(), 1);
      lse = log_sum_exp_of(row_max, row_sum);
    }
    // The streaming backward pass of one head (FlashAttention-2), one thread, fixed order.
    Gradients<T> gh;
    gh.dq.resize(n, qh.cols());
    gh.dk.resize(m, kh.cols());
    gh.dv.resize(m, vh.cols());
    const detail::FlushDenormals flush;
    kernels::table<T>().attention_backward(head, d_out.data(), o.data(), lse.data(), gh.dq.data(),
                                           gh.dk.data(), gh.dv.data());
    g.dq.middleRows(h * n, n) = gh.dq;
    g.dk.middleRows(h * m, m) = gh.dk;
    g.dv.middleRows(h * m, m) = gh.dv;
  });
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
  const Matrix<T> visible = scores(q, k, mask, T(1));  // -inf where the query does not see the key
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
    if (top <= tau) break;  // outside the support already (and never summed: no overflow)
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

namespace {

// Scores of +inf (a score that overflowed, a bias of +inf) take all the weight, shared equally:
// the limit of both maps as those scores grow together. (Shifted by an infinite maximum, the
// other scores would be NaN or -inf, and no support would be left.)
Eigen::VectorXd infinite_winners(const Eigen::VectorXd& z) {
  const Eigen::ArrayXd winners = (z.array() == kInf).cast<double>();
  return winners / winners.sum();
}

}  // namespace

// Both are invariant under a shift of z: it is shifted to a largest entry of 0, so that the
// threshold's sums stay small (scores of 1e277 would square to inf).
Eigen::VectorXd sparsemax(const Eigen::VectorXd& z) {
  if (!(z.maxCoeff() > -kInf)) return Eigen::VectorXd::Zero(z.size());
  if (z.maxCoeff() == kInf) return infinite_winners(z);
  const Eigen::ArrayXd x = z.array() - z.maxCoeff();
  return (x - threshold(x, 1)).max(0.0);
}

Eigen::VectorXd entmax15(const Eigen::VectorXd& z) {
  if (!(z.maxCoeff() > -kInf)) return Eigen::VectorXd::Zero(z.size());
  if (z.maxCoeff() == kInf) return infinite_winners(z);
  const Eigen::ArrayXd half = (z.array() - z.maxCoeff()) / 2;
  return (half - threshold(half, 2)).max(0.0).square();
}

template <typename T>
void require_backward_fits(Index n, Index m) {
  require_dense_fits(n, m, 3 * sizeof(T), "the backward pass",
                     "split the queries into blocks (the gradients add up over blocks)");
}

#define EOT_INSTANTIATE(T)                                                                        \
  template void require_backward_fits<T>(Index, Index);                                           \
  template Matrix<T> forward(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, double,        \
                             const Mask<T>&, Matrix<T>*, int);                                    \
  template Matrix<T> forward_via_solver(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,     \
                                        double, const Mask<T>&, Matrix<T>*, int);                 \
  template Gradients<T> backward(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,            \
                                 const Matrix<T>&, double, const Mask<T>&, int, Regularizer);     \
  template Matrix<T> weights(const Matrix<T>&, const Matrix<T>&, double, const Mask<T>&,          \
                             Regularizer, int);                                                   \
  template Matrix<T> forward_batched(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, Index, \
                                     double, const Mask<T>&, int, Vector<T>*);                    \
  template Gradients<T> backward_batched(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,    \
                                         const Matrix<T>&, Index, double, const Mask<T>&, int,    \
                                         const Matrix<T>*, const Vector<T>*);                     \
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
