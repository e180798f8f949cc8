// exp for the kernels: Eigen's vectorized exp never returns 0 (Eigen 3.4 clamps its argument,
// so exp(-inf) is about 5.6e-309 in double and 2.9e-39 in float). A forbidden pair or a zero
// weight must carry exactly no mass, so values below the smallest normal number are flushed to 0.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <limits>

namespace eot::detail {

// Use inside one full expression: the result refers to `z`.
template <typename Derived>
auto exp_or_zero(const Eigen::ArrayBase<Derived>& z) {
  using Scalar = typename Derived::Scalar;
  const Scalar lowest = std::log(std::numeric_limits<Scalar>::min());
  return (z < lowest).select(Scalar(0), z.exp());
}

}  // namespace eot::detail
