// What the attention files (lib/attention/) share: the checks of q, k, v and the mask, the
// kernels' view of a head, and the query blocks that threads share.
#pragma once

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "detail/tiles.hpp"
#include "eot/attention.hpp"
#include "eot/error.hpp"
#include "eot/parallel.hpp"
#include "kernels/kernels.hpp"

namespace eot::attention::detail {

// Rows of a row-major matrix, not copied: a whole q, k or v, or one head's rows of a batch.
template <typename T>
using View = Eigen::Ref<const Matrix<T>>;

// Query blocks: the unit of work shared among threads (lib/kernels has the tile sizes).
constexpr Index kQueryBlock = 128;

inline std::string shape(const char* name, Index rows, Index cols) {
  return std::string(name) + " (" + std::to_string(rows) + " x " + std::to_string(cols) + ")";
}

template <typename T>
void check_finite(const char* name, const View<T>& x) {
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
double check(const View<T>& q, const View<T>& k, const View<T>& v, double epsilon,
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
    auto log10_largest_norm = [](const View<T>& x) {  // without overflow: |x| may be 1e300
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
// into `padding` as bytes. The kernels step through rows by their length: q, k and v are whole
// matrices or blocks of their rows.
template <typename T>
kernels::Head<T> head_of(const View<T>& q, const View<T>& k, const View<T>& v, T inv_eps,
                         const Mask<T>& mask, std::vector<unsigned char>& padding) {
  assert(q.outerStride() == q.cols() && k.outerStride() == k.cols() && v.outerStride() == v.cols());
  padding.assign(mask.key_padding.begin(), mask.key_padding.end());
  const kernels::AttentionMask<T> view{mask.bias.size() ? mask.bias.data() : nullptr,
                                       mask.bias.cols(), padding.empty() ? nullptr : padding.data(),
                                       mask.causal};
  return {q.data(), k.data(), v.data(), q.rows(), k.rows(), q.cols(), v.cols(), inv_eps, view};
}

// Scaled scores of all queries against all keys, -inf where masked.
template <typename T>
Matrix<T> scores(const View<T>& q, const View<T>& k, const Mask<T>& mask, T inv_eps) {
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
  parallel_for(blocks, n * m >= eot::detail::kParallelMinimum ? threads : 1, [&](Index b) {
    const eot::detail::FlushDenormals flush;
    const Index i0 = b * kQueryBlock;
    block(i0, std::min(kQueryBlock, n - i0));
  });
}

}  // namespace eot::attention::detail
