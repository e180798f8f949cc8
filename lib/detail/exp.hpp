// exp for vector expressions, in the library and in each copy of lib/kernels/kernels.cpp
// (compiled there against that copy's renamed Eigen, so each copy has its own). Eigen 3.4's
// vectorized exp never returns 0: it clamps its argument, so exp(-inf) comes out near 5.6e-309 in
// double (2.9e-39 in float without AVX). A forbidden pair or a zero weight must carry exactly no
// mass, so results below the smallest normal number are flushed to 0 by a subtraction (a select
// would not vectorize: it costs 4x). The subtraction leaves every value above 2e-292 (double) or
// 2e-31 (float) bit-for-bit unchanged and moves the few below by less than 1e-307 (1e-37).
#pragma once

#include <Eigen/Core>
#include <limits>

namespace eot::detail {

// Use inside one full expression: the result refers to `z`.
template <typename Derived>
auto exp_or_zero(const Eigen::ArrayBase<Derived>& z) {
  using Scalar = typename Derived::Scalar;
  return (z.exp() - std::numeric_limits<Scalar>::min()).max(Scalar(0));
}

}  // namespace eot::detail
