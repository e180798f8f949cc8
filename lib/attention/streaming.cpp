// Softmax attention through the streaming kernels (lib/kernels/kernels.cpp): FlashAttention's
// online softmax forward, its weights on request, and FlashAttention-2's backward, for one
// head and for batches of heads.
#include <utility>

#include "attention/common.hpp"
#include "eot/memory.hpp"

namespace eot::attention {

using detail::check;
using detail::head_of;
using detail::View;

namespace {

// The forward kernel: O = softmax(s) V by online softmax over key tiles, one query block at a
// time, into `out` (n x dv, row-major). Each query's max score and sum_j exp(s_ij - max) go to
// `row_max` and `row_sum` (n entries each; -inf and 0 for a query that sees no key).
template <typename T>
void forward_kernel(const kernels::Head<T>& head, T* out, T* row_max, T* row_sum, int threads) {
  detail::for_each_query_block(head.n, head.m, threads, [&](Index i0, Index ni) {
    kernels::table<T>().attention_forward(head, i0, ni, out + i0 * head.dv, row_max + i0,
                                          row_sum + i0);
  });
}

// The attention weights exp(s - max) / sum, n x m, tile by tile, from forward_kernel()'s row
// statistics.
template <typename T>
void weights_kernel(const kernels::Head<T>& head, const Vector<T>& row_max,
                    const Vector<T>& row_sum, Matrix<T>& p, int threads) {
  p.resize(head.n, head.m);
  detail::for_each_query_block(head.n, head.m, threads, [&](Index i0, Index ni) {
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
Matrix<T> forward(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v, double epsilon,
                  const Mask<T>& mask, int threads, Matrix<T>* weights) {
  const T inv_eps = T(1 / check<T>(q, k, v, epsilon, mask));
  if (weights) {
    require_dense_fits(q.rows(), k.rows(), sizeof(T), "the attention weights",
                       "call forward() without weights: the fused kernel never forms them");
  }
  Matrix<T> out(q.rows(), v.cols());
  Vector<T> row_max(q.rows()), row_sum(q.rows());
  std::vector<unsigned char> padding;
  const kernels::Head<T> head = head_of<T>(q, k, v, inv_eps, mask, padding);
  forward_kernel(head, out.data(), row_max.data(), row_sum.data(), threads);
  if (weights) weights_kernel(head, row_max, row_sum, *weights, threads);
  return out;
}

template <typename T>
Matrix<T> forward_batched(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                          Index batch_heads, double epsilon, const Mask<T>& mask, int threads,
                          Vector<T>* log_sum_exp) {
  const auto [n, m] = heads_shape(q, k, v, batch_heads);
  Matrix<T> out(q.rows(), v.cols());
  if (log_sum_exp) log_sum_exp->resize(q.rows());
  for_each_head(batch_heads, threads, [&, n = n, m = m](Index h) {
    const View<T> qh = q.middleRows(h * n, n), kh = k.middleRows(h * m, m),
                  vh = v.middleRows(h * m, m);
    const T inv_eps = T(1 / check<T>(qh, kh, vh, epsilon, mask));
    Vector<T> row_max(n), row_sum(n);
    std::vector<unsigned char> padding;
    // One head alone gets all the threads (over its query blocks), straight into its rows.
    forward_kernel(head_of<T>(qh, kh, vh, inv_eps, mask, padding), out.data() + h * n * v.cols(),
                   row_max.data(), row_sum.data(), batch_heads == 1 ? threads : 1);
    if (log_sum_exp) log_sum_exp->segment(h * n, n) = log_sum_exp_of(row_max, row_sum);
  });
  return out;
}

template <typename T>
Gradients<T> backward_batched(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                              const Matrix<T>& grad_output, Index batch_heads, double epsilon,
                              const Mask<T>& mask, int threads, const Matrix<T>* output,
                              const Vector<T>* log_sum_exp) {
  const auto [n, m] = heads_shape(q, k, v, batch_heads);
  if (grad_output.rows() != q.rows() || grad_output.cols() != v.cols()) {
    throw InvalidArgument(detail::shape("grad_output", grad_output.rows(), grad_output.cols()) +
                          " must have the output's shape (B*H*n) x dv = " +
                          std::to_string(q.rows()) + " x " + std::to_string(v.cols()));
  }
  if ((output == nullptr) != (log_sum_exp == nullptr)) {
    throw InvalidArgument("backward_batched: pass both output and log_sum_exp, or neither");
  }
  if (output && (output->rows() != q.rows() || output->cols() != v.cols() ||
                 log_sum_exp->size() != q.rows())) {
    throw InvalidArgument(detail::shape("output", output->rows(), output->cols()) +
                          " and log_sum_exp (" + std::to_string(log_sum_exp->size()) +
                          ") must be forward_batched()'s: " + std::to_string(q.rows()) + " x " +
                          std::to_string(v.cols()) + " and " + std::to_string(q.rows()));
  }
  Gradients<T> g;
  g.dq.resize(q.rows(), q.cols());
  g.dk.resize(k.rows(), k.cols());
  g.dv.resize(v.rows(), v.cols());
  for_each_head(batch_heads, threads, [&, n = n, m = m](Index h) {
    const View<T> qh = q.middleRows(h * n, n), kh = k.middleRows(h * m, m),
                  vh = v.middleRows(h * m, m), d_out = grad_output.middleRows(h * n, n);
    const T inv_eps = T(1 / check<T>(qh, kh, vh, epsilon, mask));
    detail::check_finite<T>("grad_output", d_out);
    std::vector<unsigned char> padding;
    const kernels::Head<T> head = head_of<T>(qh, kh, vh, inv_eps, mask, padding);
    Matrix<T> computed;
    Vector<T> lse(n);
    if (output) {
      lse = log_sum_exp->segment(h * n, n);
    } else {
      Vector<T> row_max(n), row_sum(n);
      computed.resize(n, v.cols());
      forward_kernel(head, computed.data(), row_max.data(), row_sum.data(), 1);
      lse = log_sum_exp_of(row_max, row_sum);
    }
    const T* o = output ? output->data() + h * n * output->cols() : computed.data();
    // The streaming backward pass of one head (FlashAttention-2), one thread, fixed order, into
    // the head's rows of the gradients.
    const eot::detail::FlushDenormals flush;
    kernels::table<T>().attention_backward(
        head, d_out.data(), o, lse.data(), g.dq.data() + h * n * q.cols(),
        g.dk.data() + h * m * k.cols(), g.dv.data() + h * m * v.cols());
  });
  return g;
}

#define EOT_INSTANTIATE(T)                                                                        \
  template Matrix<T> forward(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, double,        \
                             const Mask<T>&, int, Matrix<T>*);                                    \
  template Matrix<T> forward_batched(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, Index, \
                                     double, const Mask<T>&, int, Vector<T>*);                    \
  template Gradients<T> backward_batched(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&,    \
                                         const Matrix<T>&, Index, double, const Mask<T>&, int,    \
                                         const Matrix<T>*, const Vector<T>*);
EOT_INSTANTIATE(float)
EOT_INSTANTIATE(double)
#undef EOT_INSTANTIATE

}  // namespace eot::attention
