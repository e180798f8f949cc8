// The hot loops of lib/kernels/kernels.hpp, for the instruction set this copy is compiled for
// (EOT_ISA_NAMESPACE: baseline, avx2 or avx512; see CMakeLists.txt).
//
// The log-sum-exp loops are written on Eigen's packets: one fused pass per loop (load, fma,
// exp, add), no temporary arrays. Eigen's vectorized exp (pexp) clamps its argument, so
// exp(-inf) gives a tiny number instead of 0: in a sum next to a largest term of 1 it is
// nothing (and the callers' flush-to-zero mode makes it 0), and where a value is stored
// (plan, weights) it is flushed to 0 by exp_or_zero(). Its accuracy against long double, which
// `eot bench` measures at each level: 1-2 ulp in double, 2-5 ulp in float.
//
// Results must not depend on where the caller's data lies: Eigen peels the first entries of an
// assignment up to an aligned address, and computes them another way (a product's or a sum's
// scalar path, std::exp instead of pexp). So every product and every sum is evaluated into
// this file's own (aligned) arrays, and only element-wise copies, casts and quotients write
// into the caller's memory.
#include "kernels/kernels.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "detail/exp.hpp"
#include "detail/metrics.hpp"

#if !defined(EOT_ISA_NAMESPACE) || !defined(EOT_ISA_ENUM)
#error "compile with EOT_ISA_NAMESPACE and EOT_ISA_ENUM defined (see CMakeLists.txt)"
#endif

namespace eot::kernels::EOT_ISA_NAMESPACE {

namespace {

using detail::exp_or_zero;
using Eigen::Dynamic;
template <typename T>
using Rows = Eigen::Matrix<T, Dynamic, Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstTile = Eigen::Map<const Rows<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using Tile = Eigen::Map<Rows<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using Array = Eigen::Array<T, Dynamic, 1>;
template <typename T>
using Vector = Eigen::Matrix<T, Dynamic, 1>;
// A run of up to kChunk entries of a row, on the stack.
constexpr Index kChunk = 256;
using Chunk = Eigen::Array<double, Dynamic, 1, Eigen::ColMajor, kChunk, 1>;

// A rows x cols array of this thread's, kept from call to call and only ever grown: a fresh
// array per tile (128 KB, which the allocator maps and unmaps each time) costs page faults,
// several times the tile's own work. Each use has its own slot.
template <typename T, int kSlot>
T* work_buffer(Index size) {
  thread_local Vector<T> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return buffer.data();
}
template <typename T>
using Work = Eigen::Map<Rows<T>, Eigen::AlignedMax>;
template <typename T>
using WorkVector = Eigen::Map<Vector<T>, Eigen::AlignedMax>;
template <typename T, int kSlot>
Work<T> work(Index rows, Index cols) {
  return Work<T>(work_buffer<T, kSlot>(rows * cols), rows, cols);
}
template <typename T, int kSlot>
WorkVector<T> work_vector(Index size) {
  return WorkVector<T>(work_buffer<T, kSlot>(size), size);
}

constexpr double kInf = std::numeric_limits<double>::infinity();
template <typename T>
constexpr T kMinusInf = -std::numeric_limits<T>::infinity();

template <typename T>
using Packet = typename Eigen::internal::packet_traits<T>::type;
template <typename T>
constexpr Index kLanes = Eigen::internal::unpacket_traits<Packet<T>>::size;

// Asks for the n entries at p to be brought into the cache: the next row of a dense tile is a
// short (1-2 KB) strided run, too many at once for the hardware prefetcher to follow.
template <typename T>
void prefetch(const T* p, Index n) {
  const char* bytes = reinterpret_cast<const char*>(p);
  for (Index k = 0; k < n * Index(sizeof(T)); k += 64) __builtin_prefetch(bytes + k);
}

// max_j (h_j - s c_j).
template <typename T>
T max_term(const T* c, const T* h, T s, Index n) {
  using namespace Eigen::internal;
  const Packet<T> minus_s = pset1<Packet<T>>(-s);
  Packet<T> top = pset1<Packet<T>>(kMinusInf<T>);
  Index j = 0;
  for (; j + kLanes<T> <= n; j += kLanes<T>)
    top = pmax(top, pmadd(minus_s, ploadu<Packet<T>>(c + j), ploadu<Packet<T>>(h + j)));
  T out = predux_max(top);
  for (; j < n; ++j) out = std::max(out, h[j] - s * c[j]);
  return out;
}

// sum_j exp(h_j - s c_j - shift).
template <typename T>
T sum_exp(const T* c, const T* h, T s, T shift, Index n) {
  using namespace Eigen::internal;
  const Packet<T> minus_s = pset1<Packet<T>>(-s), shift_p = pset1<Packet<T>>(shift);
  Packet<T> sum = pset1<Packet<T>>(0);
  Index j = 0;
  for (; j + kLanes<T> <= n; j += kLanes<T>) {
    const Packet<T> z = pmadd(minus_s, ploadu<Packet<T>>(c + j), ploadu<Packet<T>>(h + j));
    sum = padd(sum, pexp(psub(z, shift_p)));
  }
  T out = predux(sum);
  for (; j < n; ++j) out += std::exp(h[j] - s * c[j] - shift);
  return out;
}

// The same down columns, one row at a time: top_j = max(top_j, h - s c_j).
template <typename T>
void max_term_into(T* top, const T* c, T h, T s, Index n) {
  using namespace Eigen::internal;
  const Packet<T> minus_s = pset1<Packet<T>>(-s), h_p = pset1<Packet<T>>(h);
  Index j = 0;
  for (; j + kLanes<T> <= n; j += kLanes<T>)
    pstoreu(top + j,
            pmax(ploadu<Packet<T>>(top + j), pmadd(minus_s, ploadu<Packet<T>>(c + j), h_p)));
  for (; j < n; ++j) top[j] = std::max(top[j], h - s * c[j]);
}

// sum_j += exp(h - s c_j - shift_j).
template <typename T>
void sum_exp_into(T* sum, const T* c, T h, T s, const T* shift, Index n) {
  using namespace Eigen::internal;
  const Packet<T> minus_s = pset1<Packet<T>>(-s), h_p = pset1<Packet<T>>(h);
  Index j = 0;
  for (; j + kLanes<T> <= n; j += kLanes<T>) {
    const Packet<T> z = pmadd(minus_s, ploadu<Packet<T>>(c + j), h_p);
    pstoreu(sum + j, padd(ploadu<Packet<T>>(sum + j), pexp(psub(z, ploadu<Packet<T>>(shift + j)))));
  }
  for (; j < n; ++j) sum[j] += std::exp(h - s * c[j] - shift[j]);
}

// ---------------------------------------------------------------------------------------------
// Log-domain passes and the plan

template <typename T>
void lse_rows(const T* c, Index ld, Index ni, Index nj, const T* h, T s, double* max, double* sum) {
  for (Index r = 0; r < ni; ++r) {
    const T* row = c + r * ld;
    if (r + 1 < ni) prefetch(row + ld, nj);
    const double top = max_term(row, h, s, nj);
    if (top == -kInf) continue;  // nothing to add; an all -inf row keeps (-inf, 0), never NaN
    const double new_max = std::max(max[r], top);
    sum[r] = sum[r] * std::exp(max[r] - new_max) + double(sum_exp(row, h, s, T(new_max), nj));
    max[r] = new_max;
  }
}

// The running update of lse_rows() for every column at once, a whole (contiguous) row of the
// tile at a time: the columns' maxima over the tile, then their shifted sums.
template <typename T>
void lse_cols(const T* c, Index ld, Index ni, Index nj, const T* h, T s, double* max, double* sum) {
  alignas(64) T top[kChunk], shift[kChunk], added[kChunk];
  for (Index j0 = 0; j0 < nj; j0 += kChunk) {
    const Index w = std::min(kChunk, nj - j0);
    std::fill(top, top + w, kMinusInf<T>);
    for (Index r = 0; r < ni; ++r) {
      const T* row = c + r * ld + j0;
      if (r + 1 < ni) prefetch(row + ld, w);
      max_term_into(top, row, h[r], s, w);
    }
    Eigen::Map<Array<double>> old_max(max + j0, w), old_sum(sum + j0, w);
    const Chunk new_max = old_max.max(Eigen::Map<const Array<T>>(top, w).template cast<double>());
    const Chunk finite_max = (new_max == -kInf).select(0.0, new_max);
    Eigen::Map<Array<T>>(shift, w) = finite_max.template cast<T>();
    std::fill(added, added + w, T(0));
    for (Index r = 0; r < ni; ++r) sum_exp_into(added, c + r * ld + j0, h[r], s, shift, w);
    // The rescale apart: in one expression with the cast, Eigen would not vectorize the exp.
    const Chunk rescale = exp_or_zero(old_max - finite_max);
    const Chunk new_sum =
        old_sum * rescale + Eigen::Map<const Array<T>>(added, w).template cast<double>();
    old_sum = new_sum;  // copies only into the caller's memory
    old_max = new_max;
  }
}

// P_ij for one run of a row, in double.
template <typename T>
Chunk plan_run(const T* c, double alpha, const double* beta, double s, Index w) {
  const Eigen::Map<const Array<T>> cost(c, w);
  return exp_or_zero(alpha + Eigen::Map<const Array<double>>(beta, w) -
                     s * cost.template cast<double>());
}

template <typename T>
void plan(const T* c, Index ld, Index ni, Index nj, const double* alpha, const double* beta,
          double s, T* out, Index out_ld) {
  for (Index r = 0; r < ni; ++r) {
    for (Index j0 = 0; j0 < nj; j0 += kChunk) {
      const Index w = std::min(kChunk, nj - j0);
      Eigen::Map<Array<T>>(out + r * out_ld + j0, w) =
          plan_run(c + r * ld + j0, alpha[r], beta + j0, s, w).template cast<T>();
    }
  }
}

template <typename T>
void transport(const T* c, Index ld, Index ni, Index nj, const double* alpha, const double* beta,
               double s, double* per_row) {
  constexpr double kLargest = std::numeric_limits<double>::max();
  for (Index r = 0; r < ni; ++r) {
    double total = 0;
    for (Index j0 = 0; j0 < nj; j0 += kChunk) {
      const Index w = std::min(kChunk, nj - j0);
      const T* run = c + r * ld + j0;
      // A forbidden pair has P = 0: its cost, capped at the largest double, adds 0 (not NaN).
      // The products land in an aligned array first: a sum over the caller's memory would be
      // ordered by its address, and results must not depend on where the data lies.
      const Chunk terms = plan_run(run, alpha[r], beta + j0, s, w) *
                          Eigen::Map<const Array<T>>(run, w).template cast<double>().min(kLargest);
      total += terms.sum();
    }
    per_row[r] += total;
  }
}

// ---------------------------------------------------------------------------------------------
// Point clouds and the stored kernel

// The costs of one metric (lib/detail/metrics.hpp): squared distances or dot products, summed
// a coordinate at a time over contiguous coordinates of the column points (y_t) or from the
// product x y^T (the squared distance as |x|^2 + |y|^2 - 2 <x, y>, clamped at 0 against
// rounding), then finished row by row in place.
template <typename Ops, typename T>
void cloud_costs(const T* x, const T* y, const T* y_t, Index y_t_ld, const T* x_sq, const T* y_sq,
                 Index ni, Index nj, Index d, Work<T> tile) {
  constexpr bool distance = Ops::base == detail::Base::SqDistance;
  const Eigen::Map<const Array<T>> y_norms(y_sq, nj);
  if (y_t) {
    auto yk = [&](Index k) { return Eigen::Map<const Array<T>>(y_t + k * y_t_ld, nj).transpose(); };
    for (Index r = 0; r < ni; ++r) {
      auto row = tile.row(r).array();
      const T* xr = x + r * d;
      if constexpr (distance) {
        row = (yk(0) - xr[0]).square();
        for (Index k = 1; k < d; ++k) row += (yk(k) - xr[k]).square();
      } else {
        row = xr[0] * yk(0);
        for (Index k = 1; k < d; ++k) row += xr[k] * yk(k);
      }
    }
  } else {
    const ConstTile<T> xs(x, ni, d, Eigen::OuterStride<>(d)), ys(y, nj, d, Eigen::OuterStride<>(d));
    if constexpr (distance) {
      tile.noalias() = T(-2) * xs * ys.transpose();
      tile.colwise() += Eigen::Map<const Vector<T>>(x_sq, ni);
      tile.rowwise() += y_norms.matrix().transpose();
      tile = tile.cwiseMax(T(0));
    } else {
      tile.noalias() = xs * ys.transpose();
    }
  }
  for (Index r = 0; r < ni; ++r) {
    auto row = tile.row(r).array();
    Ops::finish(row, x_sq[r], y_norms.transpose());
  }
}

template <typename T>
void cloud_tile(Metric metric, const T* x, const T* y, const T* y_t, Index y_t_ld, const T* x_sq,
                const T* y_sq, Index ni, Index nj, Index d, T* out) {
  Work<T> tile = work<T, 0>(ni, nj);
  detail::with_metric(metric, [&](auto ops) {
    cloud_costs<decltype(ops)>(x, y, y_t, y_t_ld, x_sq, y_sq, ni, nj, d, tile);
  });
  Tile<T>(out, ni, nj, Eigen::OuterStride<>(nj)) = tile;
}

template <typename T>
void times(const T* k, Index ld, Index ni, Index nj, const T* x, T* out) {
  WorkVector<T> product = work_vector<T, 0>(ni);
  product.noalias() =
      ConstTile<T>(k, ni, nj, Eigen::OuterStride<>(ld)) * Eigen::Map<const Vector<T>>(x, nj);
  Eigen::Map<Vector<T>>(out, ni) = product;
}

template <typename T>
void transpose_times(const T* k, Index ld, Index ni, Index nj, const T* x, T* out) {
  WorkVector<T> product = work_vector<T, 0>(nj);
  product.noalias() = ConstTile<T>(k, ni, nj, Eigen::OuterStride<>(ld)).transpose() *
                      Eigen::Map<const Vector<T>>(x, ni);
  Eigen::Map<Vector<T>>(out, nj) = product;
}

// ---------------------------------------------------------------------------------------------
// Attention

// The kernels' query blocks and key tiles: a 128 x 256 tile of float scores (128 KB) stays in
// L2 with its K and V tiles, and each product is big enough for Eigen's GEMM (about 120
// GFLOP/s per AVX-512 core on such tiles). Blocks of 64 to 256 measured within 10% of this.
constexpr Index kKeyTile = 256;

template <typename T>
ConstTile<T> rows_of(const T* p, Index rows, Index cols) {
  return ConstTile<T>(p, rows, cols, Eigen::OuterStride<>(cols));
}

// Scaled scores of queries [i0, i0 + ni) against keys [j0, j0 + nj), -inf where masked, in the
// thread's work array (slot 1).
template <typename T>
Work<T> scores(const Head<T>& h, Index i0, Index ni, Index j0, Index nj) {
  Work<T> s = work<T, 1>(ni, nj);
  // The scale rides on the product (GEMM's alpha): no separate pass over the tile.
  s.noalias() =
      (h.inv_eps * rows_of(h.q + i0 * h.d, ni, h.d)) * rows_of(h.k + j0 * h.d, nj, h.d).transpose();
  const AttentionMask<T>& mask = h.mask;
  if (mask.bias)
    s += ConstTile<T>(mask.bias + i0 * mask.bias_ld + j0, ni, nj,
                      Eigen::OuterStride<>(mask.bias_ld));
  if (mask.key_padding) {
    for (Index c = 0; c < nj; ++c)
      if (mask.key_padding[j0 + c]) s.col(c).setConstant(kMinusInf<T>);
  }
  if (mask.causal) {
    for (Index r = 0; r < ni; ++r) {
      const Index first_hidden = std::max<Index>(i0 + r + 1 - j0, 0);  // key j > query i
      if (first_hidden < nj) s.row(r).tail(nj - first_hidden).setConstant(kMinusInf<T>);
    }
  }
  return s;
}

template <typename T>
void attention_scores(const Head<T>& h, Index i0, Index ni, Index j0, Index nj, T* out) {
  Tile<T>(out, ni, nj, Eigen::OuterStride<>(nj)) = scores(h, i0, ni, j0, nj);
}

// The keys that queries [i0, i0 + ni) may see lie in [0, key_end): a causal mask hides the
// tiles right of the diagonal, which the kernels skip.
template <typename T>
Index key_end(const Head<T>& h, Index i0, Index ni) {
  return h.mask.causal ? std::min(h.m, i0 + ni) : h.m;
}

// The finite shift of a row with log-sum-exp (or running max) x: x itself, or 0 if -inf.
template <typename T>
T finite_or_zero(T x) {
  return std::isinf(x) ? T(0) : x;
}

// exp(s_ij - shift_i) in place, row by row. shift_i must be finite: 0 for a row that sees no
// key, whose entries are all -inf and give 0, never NaN.
template <typename T>
void exp_shifted(Work<T> s, const T* shift) {
  for (Index r = 0; r < s.rows(); ++r) s.row(r) = exp_or_zero(s.row(r).array() - shift[r]);
}

// Online softmax (FlashAttention): running row max, row sum and output over the key tiles,
// rescaled when the max moves.
template <typename T>
void attention_forward(const Head<T>& h, Index i0, Index ni, T* out, T* row_max, T* row_sum) {
  Work<T> acc = work<T, 2>(ni, h.dv);
  auto scale = work_vector<T, 3>(ni).array();
  Eigen::Map<Array<T>> max(row_max, ni), sum(row_sum, ni);
  max.setConstant(kMinusInf<T>);
  sum.setZero();
  acc.setZero();
  const Index end = key_end(h, i0, ni);
  for (Index j0 = 0; j0 < end; j0 += kKeyTile) {
    const Index nj = std::min(kKeyTile, end - j0);
    Work<T> s = scores(h, i0, ni, j0, nj);
    for (Index r = 0; r < ni; ++r) {
      const T new_max = std::max(max[r], s.row(r).maxCoeff());
      const T shift = finite_or_zero(new_max);  // all masked so far: 0
      scale[r] = std::exp(max[r] - shift);      // exp(-inf) = 0: nothing to keep
      s.row(r) = exp_or_zero(s.row(r).array() - shift);
      sum[r] = sum[r] * scale[r] + s.row(r).sum();
      max[r] = new_max;
    }
    acc = scale.matrix().asDiagonal() * acc;  // coefficient-wise: no aliasing
    acc.noalias() += s * rows_of(h.v + j0 * h.dv, nj, h.dv);
  }
  Tile<T> o(out, ni, h.dv, Eigen::OuterStride<>(h.dv));
  for (Index r = 0; r < ni; ++r) {
    if (sum[r] > 0)
      o.row(r) = acc.row(r) / sum[r];
    else
      o.row(r).setZero();  // a query that sees no key
  }
}

// exp(s - max) / sum (exact: a log-sum-exp shift would round the largest weights).
template <typename T>
void attention_weights(const Head<T>& h, Index i0, Index ni, const T* row_max, const T* row_sum,
                       T* p) {
  WorkVector<T> shift = work_vector<T, 2>(ni), inverse = work_vector<T, 3>(ni);
  shift = Eigen::Map<const Vector<T>>(row_max, ni).unaryExpr([](T x) { return finite_or_zero(x); });
  const auto sum = Eigen::Map<const Array<T>>(row_sum, ni);
  inverse = (sum > 0).select(sum.inverse(), T(0)).matrix();
  Tile<T> weights(p, ni, h.m, Eigen::OuterStride<>(h.m));
  weights.setZero();
  const Index end = key_end(h, i0, ni);
  for (Index j0 = 0; j0 < end; j0 += kKeyTile) {
    const Index nj = std::min(kKeyTile, end - j0);
    Work<T> s = scores(h, i0, ni, j0, nj);
    exp_shifted(s, shift.data());
    weights.middleCols(j0, nj) = inverse.asDiagonal() * s;
  }
}

// Per query block and key tile: P = exp(s - lse), dP = dO V^T, dS = P o (dP - D) / epsilon with
// D_i = <dO_i, O_i>; then dV += P^T dO, dQ += dS K, dK += dS^T Q. One thread, fixed order.
template <typename T>
void attention_backward(const Head<T>& h, const T* d_out, const T* o, const T* lse, T* dq, T* dk,
                        T* dv) {
  constexpr Index kQueryBlock = 128;
  Rows<T> g_q = Rows<T>::Zero(h.n, h.d), g_k = Rows<T>::Zero(h.m, h.d),
          g_v = Rows<T>::Zero(h.m, h.dv);
  Vector<T> shift, baseline;
  for (Index i0 = 0; i0 < h.n; i0 += kQueryBlock) {
    const Index ni = std::min(kQueryBlock, h.n - i0);
    const ConstTile<T> q_block = rows_of(h.q + i0 * h.d, ni, h.d),
                       d_out_block = rows_of(d_out + i0 * h.dv, ni, h.dv);
    shift =
        Eigen::Map<const Vector<T>>(lse + i0, ni).unaryExpr([](T x) { return finite_or_zero(x); });
    baseline.resize(ni);
    for (Index r = 0; r < ni; ++r) {  // in index order: Eigen's would follow the addresses
      T dot = 0;
      for (Index c = 0; c < h.dv; ++c) dot += d_out[(i0 + r) * h.dv + c] * o[(i0 + r) * h.dv + c];
      baseline[r] = dot;
    }
    const Index end = key_end(h, i0, ni);
    for (Index j0 = 0; j0 < end; j0 += kKeyTile) {
      const Index nj = std::min(kKeyTile, end - j0);
      Work<T> s = scores(h, i0, ni, j0, nj), dp = work<T, 2>(ni, nj);
      exp_shifted(s, shift.data());  // s is now P
      dp.noalias() = d_out_block * rows_of(h.v + j0 * h.dv, nj, h.dv).transpose();
      g_v.middleRows(j0, nj).noalias() += s.transpose() * d_out_block;
      for (Index r = 0; r < ni; ++r) {  // dS, in place of dP
        dp.row(r) = s.row(r).cwiseProduct((dp.row(r).array() - baseline[r]).matrix()) * h.inv_eps;
      }
      g_q.middleRows(i0, ni).noalias() += dp * rows_of(h.k + j0 * h.d, nj, h.d);
      g_k.middleRows(j0, nj).noalias() += dp.transpose() * q_block;
    }
  }
  Tile<T>(dq, h.n, h.d, Eigen::OuterStride<>(h.d)) = g_q;
  Tile<T>(dk, h.m, h.d, Eigen::OuterStride<>(h.d)) = g_k;
  Tile<T>(dv, h.m, h.dv, Eigen::OuterStride<>(h.dv)) = g_v;
}

// out_k = op(in_k), every entry through the packet op (the tail from a padded packet): an
// entry's value depends neither on its position nor on the address (Eigen's array expressions
// compute the entries before the first aligned one, and the tail, by the scalar function).
template <typename T, typename Op>
void packetwise(const T* in, T* out, Index n, Op op) {
  using namespace Eigen::internal;
  Index k = 0;
  for (; k + kLanes<T> <= n; k += kLanes<T>) pstoreu(out + k, op(ploadu<Packet<T>>(in + k)));
  if (k == n) return;
  T tail[kLanes<T>];
  for (Index j = 0; j < kLanes<T>; ++j) tail[j] = k + j < n ? in[k + j] : T(1);
  pstoreu(tail, op(ploadu<Packet<T>>(tail)));
  for (Index j = 0; k + j < n; ++j) out[k + j] = tail[j];
}

template <typename T>
void exp(const T* in, T* out, Index n) {
  packetwise(in, out, n, [](const Packet<T>& x) { return Eigen::internal::pexp(x); });
}

template <typename T>
void log(const T* in, T* out, Index n) {
  packetwise(in, out, n, [](const Packet<T>& x) { return Eigen::internal::plog(x); });
  // Eigen's SSE2 log reads a subnormal number as the smallest normal one (log 1e-310 would be
  // -708.4, not -713.8): those entries, if any, go through std::log.
  for (Index k = 0; k < n; ++k) {
    if (in[k] > 0 && in[k] < std::numeric_limits<T>::min()) out[k] = std::log(in[k]);
  }
}

template <typename T>
T sum(const T* in, Index n) {
  // Eight packets of running sums, so that the loop waits on the reads, not on the latency of
  // its additions (with one or two, a read from the caches would be timed at the adder's pace).
  constexpr int kLanes = 8 * Eigen::internal::packet_traits<T>::size;
  using Lanes = Eigen::Array<T, kLanes, 1>;
  Lanes lanes = Lanes::Zero();
  Index k = 0;
  for (; k + kLanes <= n; k += kLanes) lanes += Eigen::Map<const Lanes>(in + k);
  return lanes.sum() + Eigen::Map<const Array<T>>(in + k, n - k).sum();
}

template <typename T>
Table<T> make_table() {
  return {Isa::EOT_ISA_ENUM,
          &lse_rows<T>,
          &lse_cols<T>,
          &plan<T>,
          &transport<T>,
          &cloud_tile<T>,
          &times<T>,
          &transpose_times<T>,
          &attention_scores<T>,
          &attention_forward<T>,
          &attention_weights<T>,
          &attention_backward<T>,
          &exp<T>,
          &log<T>,
          &sum<T>};
}

}  // namespace

const Table<float>& float_table() {
  static const Table<float> table = make_table<float>();
  return table;
}

const Table<double>& double_table() {
  static const Table<double> table = make_table<double>();
  return table;
}

}  // namespace eot::kernels::EOT_ISA_NAMESPACE
