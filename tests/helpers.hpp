// Small tools shared by the test files: seeded data, naive references, exception capture.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "eot/eot.hpp"
#include "eot/io.hpp"

namespace test {

using Eigen::VectorXd;
using eot::Index;
using MatrixD = eot::Matrix<double>;

inline std::string data_path(const std::string& relative) {
  return std::string(EOT_DATA_DIR) + "/" + relative;
}

inline MatrixD uniform_matrix(Index rows, Index cols, unsigned seed, double lo = 0, double hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  MatrixD out(rows, cols);
  for (Index k = 0; k < out.size(); ++k) out.data()[k] = u(rng);
  return out;
}

// Positive weights summing to `mass`.
inline VectorXd weights(Index size, unsigned seed, double mass = 1) {
  VectorXd w = uniform_matrix(size, 1, seed, 0.5, 1.5);
  return w * (mass / w.sum());
}

// A point-cloud cost c(x, y) from its definition, in long double: the tests' reference for
// every entry of eot::kMetrics (a new metric needs its case here).
template <typename X, typename Y>
long double reference_cost(eot::Metric metric, const X& x, const Y& y) {
  long double sq = 0, dot = 0, xx = 0, yy = 0;
  for (Index k = 0; k < x.size(); ++k) {
    const long double xk = x[k], yk = y[k];
    sq += (xk - yk) * (xk - yk);
    dot += xk * yk;
    xx += xk * xk;
    yy += yk * yk;
  }
  switch (metric) {
    case eot::Metric::SqEuclidean:
      return sq;
    case eot::Metric::Euclidean:
      return std::sqrt(sq);
    case eot::Metric::NegDot:
      return -dot;
    case eot::Metric::Cosine:
      return xx > 0 && yy > 0 ? 1 - dot / std::sqrt(xx * yy) : 1;
  }
  return NAN;
}

template <typename T = double>
eot::Problem<T> dense_problem(const MatrixD& cost, double epsilon) {
  return eot::Problem<T>(std::make_shared<eot::CostMatrix<T>>(cost.cast<T>()), epsilon);
}

// The message of the exception `f` throws as E, or "" if it throws nothing.
template <typename E, typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Exact OT with uniform weights 1/n on both sides: the best permutation (Birkhoff).
inline double brute_force_assignment(const MatrixD& cost) {
  std::vector<int> perm(cost.rows());
  std::iota(perm.begin(), perm.end(), 0);
  double best = eot::kInf;
  do {
    double total = 0;
    for (Index i = 0; i < cost.rows(); ++i) total += cost(i, perm[i]);
    best = std::min(best, total);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best / double(cost.rows());
}

// Exact 1-D OT cost for a convex cost of x - y: the sorted (quantile) coupling.
template <typename Cost>
double sorted_coupling_cost(VectorXd x, VectorXd a, VectorXd y, VectorXd b, Cost cost) {
  auto sort_by = [](VectorXd& points, VectorXd& w) {
    std::vector<Index> order(points.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](Index i, Index j) { return points[i] < points[j]; });
    VectorXd p(points.size()), q(w.size());
    for (std::size_t k = 0; k < order.size(); ++k) p[k] = points[order[k]], q[k] = w[order[k]];
    points = p;
    w = q;
  };
  sort_by(x, a);
  sort_by(y, b);
  double total = 0;
  for (Index i = 0, j = 0; i < x.size() && j < y.size();) {
    const double mass = std::min(a[i], b[j]);
    total += mass * cost(x[i] - y[j]);
    a[i] -= mass;
    b[j] -= mass;
    if (a[i] <= 1e-15) ++i;
    if (j < y.size() && b[j] <= 1e-15) ++j;
  }
  return total;
}

inline double max_abs_diff(const MatrixD& x, const MatrixD& y) {
  return (x - y).cwiseAbs().maxCoeff();
}

}  // namespace test
