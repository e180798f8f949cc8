// The one-sided regularizers (docs/sdpa-as-eot.md, "The other regularizers"): each one's
// operations in one table, the weights of any of them, and the backward pass through them.
#include <functional>

#include "attention/common.hpp"
#include "eot/memory.hpp"

namespace eot::attention {

using detail::check;

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

namespace {

// Each regularizer's operations. To add one: its value in Regularizer and kRegularizers
// (eot/attention.hpp) and its row here; tests/test_attention.cpp checks every value of
// kRegularizers: its name, weights on the simplex, and its backward pass against finite
// differences (its map wants a closed-form test of its own, as sparsemax's and entmax's have).
struct RegularizerOps {
  Regularizer regularizer;
  const char* name;
  // One query's weights from its scaled scores z (-inf for a key it does not see, and at least
  // one finite). Null: softmax, by the streaming kernel (forward()).
  Eigen::VectorXd (*map)(const Eigen::VectorXd& z);
  // w(p_ij), with the map's Jacobian diag(w) - w w^T / sum(w) for each query. Null: softmax's
  // standard backward pass (D_i = <dO_i, O_i>), which `eot demo sdpa` checks against this form
  // with w = p.
  double (*jacobian_weight)(double p);
};

constexpr RegularizerOps kOps[] = {
    {Regularizer::Softmax, "softmax", nullptr, nullptr},
    {Regularizer::Sparsemax, "sparsemax", sparsemax, [](double p) { return p > 0 ? 1.0 : 0.0; }},
    {Regularizer::Entmax15, "entmax15", entmax15, [](double p) { return std::sqrt(p); }},
};

const RegularizerOps& ops(Regularizer regularizer) {
  for (const RegularizerOps& row : kOps)
    if (row.regularizer == regularizer) return row;
  throw InvalidArgument("regularizer: unknown value " + std::to_string(int(regularizer)),
                        "regularizer");
}

}  // namespace

const char* to_string(Regularizer regularizer) {
  return ops(regularizer).name;
}

Regularizer regularizer_from_string(const std::string& name) {
  return from_name(kRegularizers, name, "regularizer", "regularizer");
}

template <typename T>
Matrix<T> weights(const Matrix<T>& q, const Matrix<T>& k, double epsilon, const Mask<T>& mask,
                  Regularizer regularizer, int threads) {
  Matrix<T> p;
  const Matrix<T> no_values = Matrix<T>::Zero(k.rows(), 1);  // forward() and check() want some V
  const RegularizerOps& op = ops(regularizer);
  if (!op.map) {
    forward(q, k, no_values, epsilon, mask, threads, &p);
    return p;
  }
  const T inv_eps = T(1 / check<T>(q, k, no_values, epsilon, mask));
  require_dense_fits(q.rows(), k.rows(), 2 * sizeof(T), "the attention weights",
                     "split the queries into blocks");
  const Matrix<T> s = detail::scores<T>(q, k, mask, inv_eps);
  p.resize(q.rows(), k.rows());
  for (Index i = 0; i < q.rows(); ++i) {
    const Eigen::VectorXd z = s.row(i).transpose().template cast<double>();
    if (z.maxCoeff() == -kInf) {
      p.row(i).setZero();  // a query that sees no key
      continue;
    }
    p.row(i) = op.map(z).transpose().template cast<T>();
  }
  return p;
}

template <typename T>
Gradients<T> backward(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                      const Matrix<T>& grad_output, double epsilon, const Mask<T>& mask,
                      Regularizer regularizer, int threads) {
  epsilon = check<T>(q, k, v, epsilon, mask);
  if (grad_output.rows() != q.rows() || grad_output.cols() != v.cols()) {
    throw InvalidArgument(detail::shape("grad_output", grad_output.rows(), grad_output.cols()) +
                          " must have the output's shape n x dv = " + std::to_string(q.rows()) +
                          " x " + std::to_string(v.cols()));
  }
  detail::check_finite<T>("grad_output", grad_output);
  require_backward_fits<T>(q.rows(), k.rows());
  Gradients<T> g;
  const Matrix<T> u = grad_output * v.transpose();  // u_ij = <dO_i, v_j> = dL/dp_ij
  const RegularizerOps& op = ops(regularizer);
  Matrix<T> p;
  if (!op.jacobian_weight) {
    const Matrix<T> out = forward(q, k, v, epsilon, mask, threads, &p);
    const Vector<T> baseline = grad_output.cwiseProduct(out).rowwise().sum();  // D_i = <dO_i, O_i>
    g.ds = (p.array() * (u.colwise() - baseline).array() / T(epsilon)).matrix();
  } else {
    p = weights(q, k, epsilon, mask, regularizer, threads);
    const Matrix<T> w = p.unaryExpr([&](T x) { return T(op.jacobian_weight(double(x))); });
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
void require_backward_fits(Index n, Index m) {
  require_dense_fits(n, m, 3 * sizeof(T), "the backward pass",
                     "split the queries into blocks (the gradients add up over blocks)");
}

#define EOT_INSTANTIATE(T)                                                                    \
  template void require_backward_fits<T>(Index, Index);                                       \
  template Gradients<T> backward(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,        \
                                 const Matrix<T>&, double, const Mask<T>&, Regularizer, int); \
  template Matrix<T> weights(const Matrix<T>&, const Matrix<T>&, double, const Mask<T>&,      \
                             Regularizer, int);
EOT_INSTANTIATE(float)
EOT_INSTANTIATE(double)
#undef EOT_INSTANTIATE

}  // namespace eot::attention
