// Every point-cloud cost c(x, y), in one place: its name, how a tile of costs is formed, its
// bounds and its gradient. The kernels (lib/kernels/kernels.cpp), PointCloud
// (lib/geometry.cpp) and the divergence's position gradient (lib/divergence.cpp) take them from
// here, through with_metric().
//
// To add a metric: its value in eot::Metric and kMetrics (include/eot/metric.hpp), its
// MetricOps below, and its formula in the tests' reference_cost (tests/helpers.hpp), which
// checks every entry of kMetrics: the tile at few and many dimensions, the bounds, and the
// divergence's gradient against finite differences.
//
// This header is also compiled into each instruction set's copy of the kernels: everything the
// kernels call is a template (instantiated with that copy's own Eigen, so unique to it).
#pragma once

#include <cmath>
#include <cstddef>
#include <utility>

#include "eot/metric.hpp"

namespace eot::detail {

// What a tile's costs are formed from, for a point x against a run of points y: the squared
// distances |x - y|^2 (summed a coordinate at a time where the dimension is small, so without
// cancellation) or the dot products <x, y>. finish() then turns them into costs in place, given
// |x|^2 and the run's |y|^2.
enum class Base { SqDistance, Dot };

// grad_x c(x, y) = u x - v y.
struct Gradient {
  double u, v;
};

template <Metric>
struct MetricOps;

template <>
struct MetricOps<Metric::SqEuclidean> {
  static constexpr const char* name = "sqeuclidean";
  static constexpr const char* formula = "|x - y|^2";
  static constexpr Base base = Base::SqDistance;
  template <typename S, typename T, typename Y>
  static void finish(S&, T, const Y&) {}
  // Bounds on the costs from the largest norms |x| and |y|.
  static constexpr double lowest(double, double) { return 0; }
  static constexpr double highest(double x, double y) { return (x + y) * (x + y); }
  static constexpr Gradient gradient(double, double, double) { return {2, 2}; }
};

template <>
struct MetricOps<Metric::Euclidean> {
  static constexpr const char* name = "euclidean";
  static constexpr const char* formula = "|x - y|";
  static constexpr Base base = Base::SqDistance;
  template <typename S, typename T, typename Y>
  static void finish(S& s, T, const Y&) {
    s = s.sqrt();
  }
  static constexpr double lowest(double, double) { return 0; }
  static constexpr double highest(double x, double y) { return x + y; }
  // (x - y) / |x - y|, and 0 where x = y (a subgradient).
  static constexpr Gradient gradient(double c, double, double) {
    return c > 0 ? Gradient{1 / c, 1 / c} : Gradient{0, 0};
  }
};

template <>
struct MetricOps<Metric::NegDot> {
  static constexpr const char* name = "negdot";
  static constexpr const char* formula = "-<x, y>";
  static constexpr Base base = Base::Dot;
  template <typename S, typename T, typename Y>
  static void finish(S& s, T, const Y&) {
    s = -s;
  }
  static constexpr double lowest(double x, double y) { return -x * y; }
  static constexpr double highest(double x, double y) { return x * y; }
  static constexpr Gradient gradient(double, double, double) { return {0, 1}; }
};

template <>
struct MetricOps<Metric::Cosine> {
  static constexpr const char* name = "cosine";
  static constexpr const char* formula = "1 - cos(x, y)";  // 1 - <x, y> / (|x| |y|)
  static constexpr Base base = Base::Dot;
  // Clamped to [0, 2] against rounding; 1 (orthogonal) where a vector is zero. |x| |y| as a
  // product of square roots: x_sq y_sq would overflow or underflow long before it does.
  template <typename S, typename T, typename Y>
  static void finish(S& s, T x_sq, const Y& y_sq) {
    const auto norms = std::sqrt(x_sq) * y_sq.sqrt();
    s = (norms > T(0)).select(T(1) - s / norms, T(1)).max(T(0)).min(T(2));
  }
  static constexpr double lowest(double, double) { return 0; }
  static constexpr double highest(double, double) { return 2; }
  // -y / (|x| |y|) + <x, y> x / (|x|^3 |y|), and 0 where a vector is zero.
  static Gradient gradient(double c, double x_sq, double y_sq) {
    if (!(x_sq > 0 && y_sq > 0)) return {0, 0};
    return {(1 - c) / x_sq, 1 / (std::sqrt(x_sq) * std::sqrt(y_sq))};
  }
};

// f(MetricOps<metric>{}), for the metric's value at run time (one of kMetrics: PointCloud
// refuses any other).
template <std::size_t I = 0, typename F>
decltype(auto) with_metric(Metric metric, F&& f) {
  constexpr std::size_t count = sizeof(kMetrics) / sizeof(kMetrics[0]);
  if constexpr (I + 1 < count) {
    if (metric != kMetrics[I]) return with_metric<I + 1>(metric, std::forward<F>(f));
  }
  return f(MetricOps<kMetrics[I]>{});
}

}  // namespace eot::detail
