#include "eot/exact.hpp"

#include <lemon/network_simplex.h>
#include <lemon/static_graph.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "eot/error.hpp"

namespace eot {

namespace {

using Integer = long long;

// w scaled to integers summing exactly to `total` (the largest remainders get the rounding).
std::vector<Integer> to_integers(const Eigen::VectorXd& w, double scale, Integer total) {
  std::vector<Integer> out(w.size());
  std::vector<double> remainder(w.size());
  Integer sum = 0;
  for (Index i = 0; i < w.size(); ++i) {
    const double x = w[i] * scale;
    out[i] = Integer(std::floor(x));
    remainder[i] = x - double(out[i]);
    sum += out[i];
  }
  std::vector<Index> order(w.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](Index i, Index j) { return remainder[i] > remainder[j]; });
  for (Index k = 0; sum < total; k = (k + 1) % w.size()) {
    if (w[order[k]] > 0) ++out[order[k]], ++sum;
  }
  for (Index k = 0; sum > total; k = (k + 1) % w.size()) {
    if (out[order[w.size() - 1 - k]] > 0) --out[order[w.size() - 1 - k]], --sum;
  }
  return out;
}

void check_weights(const char* name, const Eigen::VectorXd& w, Index size) {
  if (w.size() != size) {
    throw InvalidArgument(std::string(name) + " has " + std::to_string(w.size()) +
                          " entries but the cost has " + std::to_string(size));
  }
  for (Index i = 0; i < w.size(); ++i) {
    if (!std::isfinite(w[i]) || w[i] < 0) {
      throw InvalidArgument(std::string(name) + "(" + std::to_string(i) + ") is " +
                            std::to_string(w[i]) + ": weights must be finite and >= 0");
    }
  }
}

}  // namespace

ExactResult exact_ot(const Matrix<double>& cost, const Eigen::VectorXd& a,
                     const Eigen::VectorXd& b) {
  const Index n = cost.rows(), m = cost.cols();
  if (n == 0 || m == 0) throw InvalidArgument("cost: the matrix is empty");
  check_weights("a", a, n);
  check_weights("b", b, m);
  const double mass_a = a.sum(), mass_b = b.sum();
  if (mass_a <= 0 || std::abs(mass_a - mass_b) > 1e-9 * std::max(mass_a, mass_b)) {
    throw InvalidArgument("exact OT needs equal positive masses: sum(a) = " +
                          std::to_string(mass_a) + ", sum(b) = " + std::to_string(mass_b));
  }
  double largest = 0;
  for (Index k = 0; k < cost.size(); ++k) {
    const double c = cost.data()[k];
    if (std::isnan(c) || c == -kInf) {
      throw InvalidArgument("cost(" + std::to_string(k / m) + ", " + std::to_string(k % m) +
                            ") is not a number or -inf: costs must be finite, or +inf (forbidden)");
    }
    if (c < kInf) largest = std::max(largest, std::abs(c));
  }
  // Integers for LEMON: supplies of about 1e15 in total, costs of about 1e12 at most, so that
  // potentials (sums of up to n + m costs) stay far from the 64-bit limit.
  const double supply_scale = 1e15 / std::max(mass_a, mass_b);
  const Integer total = Integer(std::llround(mass_a * supply_scale));
  const std::vector<Integer> supply_a = to_integers(a, supply_scale, total);
  const std::vector<Integer> supply_b = to_integers(b, supply_scale, total);
  const double cost_scale = largest > 0 ? 1e12 / largest : 1.0;

  // Rows are nodes 0..n-1, columns n..n+m-1; an arc per admissible pair, sorted by source.
  std::vector<std::pair<int, int>> arcs;
  std::vector<Integer> arc_cost;
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < m; ++j) {
      if (cost(i, j) == kInf) continue;
      arcs.emplace_back(int(i), int(n + j));
      arc_cost.push_back(Integer(std::llround(cost(i, j) * cost_scale)));
    }
  }
  lemon::StaticDigraph graph;
  graph.build(int(n + m), arcs.begin(), arcs.end());
  lemon::StaticDigraph::ArcMap<Integer> costs(graph);
  lemon::StaticDigraph::NodeMap<Integer> supplies(graph);
  for (std::size_t e = 0; e < arcs.size(); ++e) costs[graph.arc(int(e))] = arc_cost[e];
  for (Index i = 0; i < n; ++i) supplies[graph.node(int(i))] = supply_a[i];
  for (Index j = 0; j < m; ++j) supplies[graph.node(int(n + j))] = -supply_b[j];

  lemon::NetworkSimplex<lemon::StaticDigraph, Integer, Integer> simplex(graph);
  simplex.costMap(costs).supplyMap(supplies);
  const auto outcome = simplex.run();
  if (outcome != decltype(simplex)::OPTIMAL) {
    throw InvalidArgument("exact OT: no feasible plan (the forbidden pairs cut some mass off)");
  }
  ExactResult result;
  result.plan = Matrix<double>::Zero(n, m);
  for (std::size_t e = 0; e < arcs.size(); ++e) {
    const Integer flow = simplex.flow(graph.arc(int(e)));
    if (flow != 0) {
      result.plan(arcs[e].first, arcs[e].second - n) = double(flow) / supply_scale;
    }
  }
  // LEMON's potentials pi make c_ij + pi_i - pi_j >= 0; so f = -pi (rows), g = pi (columns).
  result.f.resize(n);
  result.g.resize(m);
  for (Index i = 0; i < n; ++i)
    result.f[i] = -double(simplex.potential(graph.node(int(i)))) / cost_scale;
  for (Index j = 0; j < m; ++j)
    result.g[j] = double(simplex.potential(graph.node(int(n + j)))) / cost_scale;
  result.cost = (result.plan.array() > 0).select(result.plan.array() * cost.array(), 0.0).sum();
  result.dual = a.dot(result.f) + b.dot(result.g);
  return result;
}

}  // namespace eot
