// The inner loops of the log-sum-exp kernels, written on Eigen's packets: one fused pass per
// loop (load, fma, exp, add), no temporary arrays. Terms are z_j = h_j - s c_j with s =
// 1 / epsilon. Each loop runs over n contiguous entries; the last n % lanes go through the
// scalar std::exp.
//
// The exp is Eigen's vectorized one (pexp): it clamps its argument, so exp(-inf) gives a
// tiny subnormal instead of 0, which the kernels' flush-to-zero mode (FlushDenormals) turns
// into 0. Its accuracy against long double, as `eot bench` measures and prints it: 1.61 ulp
// for double over [-708, 0], 4.48 ulp for float over [-87, 0] (docs/benchmarks.md).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "eot/types.hpp"

namespace eot::detail {

template <typename T>
using Packet = typename Eigen::internal::packet_traits<T>::type;
template <typename T>
inline constexpr Index kLanes = Eigen::internal::unpacket_traits<Packet<T>>::size;

// Asks for the n entries at p to be brought into the cache. The kernels call it for the next
// row of a tile while they work on this one: rows of a dense tile are short (2 KB) strided
// runs, too many at once for the hardware prefetcher to follow.
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
  Packet<T> top = pset1<Packet<T>>(-std::numeric_limits<T>::infinity());
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

}  // namespace eot::detail
