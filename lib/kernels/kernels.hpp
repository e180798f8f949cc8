// The hot loops, compiled once per instruction set and chosen at start-up.
//
// lib/kernels/kernels.cpp is compiled three times (CMakeLists.txt): for the x86-64 baseline
// (SSE2), for AVX2 + FMA (x86-64-v3) and for AVX-512 (x86-64-v4), each into its own namespace
// (baseline::, avx2::, avx512::) and each with Eigen renamed (-DEigen=...), so that no inline
// function of one copy can stand in for another's at link time (tests/odr_check.cmake checks
// the object files). Everything that crosses this boundary is a plain pointer, a size or a
// number: no Eigen type, whose layout and alignment depend on the instruction set.
//
// Matrices are row-major; `ld` is the distance between rows. Every kernel works on one tile,
// one block or (the attention backward) one head, and runs on the calling thread: the threading
// is the caller's (parallel_for).
#pragma once

#include <cstddef>

#include "eot/metric.hpp"

namespace eot::kernels {

using Index = std::ptrdiff_t;

enum class Isa { Baseline, Avx2, Avx512 };
inline constexpr int kIsaCount = 3;

// What an attention query may see: keys j with key_padding[j] == 0 (or all if null), j <= i if
// causal; bias (ld bias_ld, indexed by the head's query and key) is added to the scaled score.
template <typename T>
struct AttentionMask {
  const T* bias = nullptr;
  Index bias_ld = 0;
  const unsigned char* key_padding = nullptr;
  bool causal = false;
};

// One head of attention: q (n x d), k (m x d), v (m x dv).
template <typename T>
struct Head {
  const T *q, *k, *v;
  Index n, m, d, dv;
  T inv_eps;
  AttentionMask<T> mask;
};

template <typename T>
struct Table {
  Isa isa;

  // Log-domain soft-min on a cost tile c (ni x nj), with terms z_ij = h_j - s c_ij (rows) or
  // z_ij = h_i - s c_ij (columns): each row's (or column's) running log-sum-exp, kept as a
  // max and a sum shifted by it, absorbs the tile's terms. max = -inf, sum = 0 for none yet.
  void (*lse_rows)(const T* c, Index ld, Index ni, Index nj, const T* h, T s, double* max,
                   double* sum);
  void (*lse_cols)(const T* c, Index ld, Index ni, Index nj, const T* h, T s, double* max,
                   double* sum);

  // Plan entries on a tile: out_ij = exp(alpha_i + beta_j - s c_ij) in double, 0 where it is
  // below the smallest normal number or c_ij = +inf.
  void (*plan)(const T* c, Index ld, Index ni, Index nj, const double* alpha, const double* beta,
               double s, T* out, Index out_ld);
  // per_row_i += sum_j P_ij c_ij over the finite costs, with P as in plan().
  void (*transport)(const T* c, Index ld, Index ni, Index nj, const double* alpha,
                    const double* beta, double s, double* per_row);

  // Point-cloud costs of x (ni x d) against y (nj x d) into out (ni x nj, ld nj), with the
  // squared norms x_sq, y_sq (lib/detail/metrics.hpp). For d <= 8, y_t is y transposed (d x nj,
  // ld y_t_ld) and the costs are summed a coordinate at a time; otherwise (y_t null) they come
  // from the product x y^T.
  void (*cloud_tile)(Metric metric, const T* x, const T* y, const T* y_t, Index y_t_ld,
                     const T* x_sq, const T* y_sq, Index ni, Index nj, Index d, T* out);

  // out = K x for a block of rows of K (ni x nj), and out = x^T K (nj entries).
  void (*times)(const T* k, Index ld, Index ni, Index nj, const T* x, T* out);
  void (*transpose_times)(const T* k, Index ld, Index ni, Index nj, const T* x, T* out);

  // Attention. scores: the scaled scores of queries [i0, i0 + ni) against keys [j0, j0 + nj)
  // plus the bias, -inf where the mask hides the key, into s (ni x nj).
  void (*attention_scores)(const Head<T>& head, Index i0, Index ni, Index j0, Index nj, T* s);
  // One block of queries [i0, i0 + ni) of a head. forward: the output rows (out,
  // ni x dv), each query's max scaled score and sum of exp(s - max) (-inf and 0 if it sees no
  // key). weights: exp(s - max) / sum into p (ni x m, ld m), from those statistics.
  void (*attention_forward)(const Head<T>& head, Index i0, Index ni, T* out, T* row_max,
                            T* row_sum);
  void (*attention_weights)(const Head<T>& head, Index i0, Index ni, const T* row_max,
                            const T* row_sum, T* p);
  // The gradients of a whole head from dO (n x dv), O and the log-sum-exps: dq (n x d),
  // dk (m x d), dv (m x dv), overwritten.
  void (*attention_backward)(const Head<T>& head, const T* d_out, const T* o, const T* lse, T* dq,
                             T* dk, T* dv);

  // out_k = exp(in_k) (in place allowed) and out_k = log(in_k) (not in place; log(0) = -inf,
  // log(inf) = inf, subnormal numbers exact):
  // the kernel domain's scalings and row sums. And the sum of n entries, for eot bench's floors
  // (its order follows the address, so it is for timing only).
  void (*exp)(const T* in, T* out, Index n);
  void (*log)(const T* in, T* out, Index n);
  T (*sum)(const T* in, Index n);
};

// The level in use: the best this CPU supports, or lower if EOT_ISA says so ("baseline",
// "avx2", "avx512"; a level the CPU lacks falls back to the best it has).
Isa active_isa();
template <typename T>
const Table<T>& table();
// A level's kernels, or null if this build or this CPU lacks it (for the tests and eot bench).
template <typename T>
const Table<T>* table_for(Isa isa);
const char* to_string(Isa isa);

namespace baseline {
const Table<float>& float_table();
const Table<double>& double_table();
}  // namespace baseline
namespace avx2 {
const Table<float>& float_table();
const Table<double>& double_table();
}  // namespace avx2
namespace avx512 {
const Table<float>& float_table();
const Table<double>& double_table();
}  // namespace avx512

}  // namespace eot::kernels
