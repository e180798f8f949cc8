// The costs of point clouds (eot::PointCloud). Each metric's operations (its tile, bounds and
// gradient) live in lib/detail/metrics.hpp; see there to add one.
#pragma once

#include <string>

namespace eot {

enum class Metric {
  SqEuclidean,  // |x - y|^2 (POT's and OTT-JAX's convention; GeomLoss halves it)
  Euclidean,    // |x - y|
  NegDot,       // -<x, y>: with epsilon = sqrt(d), the one-sided problem is attention
  Cosine,       // 1 - <x, y> / (|x| |y|), and 1 against a zero vector
};
inline constexpr Metric kMetrics[] = {Metric::SqEuclidean, Metric::Euclidean, Metric::NegDot,
                                      Metric::Cosine};
// "sqeuclidean", "euclidean", "negdot", "cosine".
const char* to_string(Metric metric);
// The cost as a formula, e.g. "|x - y|^2".
const char* formula(Metric metric);
// Parses to_string's names; throws InvalidArgument otherwise.
Metric metric_from_string(const std::string& name);

}  // namespace eot
