// The numbers the harnesses draw: values at the edges of the log domain, ordinary ones, and any
// bit pattern.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "eot/types.hpp"

namespace {

// Values at the edges of the log domain: zeros, subnormals, extremes, infinities, NaN.
constexpr double kEdges[] = {0,         1,          -1,
                             0.5,       2,          1e-3,
                             1e3,       1e-30,      1e30,
                             -1e30,     1e-300,     1e300,
                             -1e300,    5e-324,     std::numeric_limits<double>::max(),
                             eot::kInf, -eot::kInf, std::numeric_limits<double>::quiet_NaN()};

double any_value(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 2)) {
    case 0:
      return in.PickValueInArray(kEdges);
    case 1:
      return in.ConsumeFloatingPointInRange(-10.0, 10.0);
    default: {  // any bit pattern
      const auto bits = in.ConsumeIntegral<std::uint64_t>();
      double value;
      std::memcpy(&value, &bits, sizeof value);
      return value;
    }
  }
}

// Weights, epsilon, rho: the sign is the least interesting part of them.
[[maybe_unused]] double magnitude(FuzzedDataProvider& in) {
  return std::fabs(any_value(in));
}

}  // namespace
