#include "eot/exact.hpp"

#include <lemon/network_simplex.h>
#include <lemon/static_graph.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "eot/error.hpp"
#include "eot/memory.hpp"

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
                              " entries but the cost has " + std::to_string(size),
                          name);
  }
  for (Index i = 0; i < w.size(); ++i) {
    if (!std::isfinite(w[i]) || w[i] < 0) {
      throw InvalidArgument(std::string(name) + "(" + std::to_string(i) + ") is " +
                                std::to_string(w[i]) + ": weights must be finite and >= 0",
                            name, i);
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
    std::ostringstream message;
    message.precision(17);
    message << "exact OT needs equal positive masses: sum(a) = " << mass_a
            << ", sum(b) = " << mass_b << " (sum(b) - sum(a) = " << mass_b - mass_a
            << "); normalize the weights, or solve the entropic problem with a relaxed side "
               "(rho_a or rho_b below inf)";
    throw InvalidArgument(message.str(), "masses");
  }
  double largest = 0;
  for (Index k = 0; k < cost.size(); ++k) {
    const double c = cost.data()[k];
    if (std::isnan(c) || c == -kInf) {
      throw InvalidArgument("cost(" + std::to_string(k / m) + ", " + std::to_string(k % m) +
                                ") is not a number or -inf: costs must be finite, or +inf "
                                "(forbidden)",
                            "cost", k / m);
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
  // The arc lists are dropped once the graph and its cost map hold them (the peak is the
  // simplex's own arrays).
  lemon::StaticDigraph graph;
  {
    std::vector<std::pair<int, int>> arcs;
    arcs.reserve(std::size_t((cost.array() < kInf).count()));
    for (Index i = 0; i < n; ++i) {
      for (Index j = 0; j < m; ++j) {
        if (cost(i, j) < kInf) arcs.emplace_back(int(i), int(n + j));
      }
    }
    graph.build(int(n + m), arcs.begin(), arcs.end());
  }
  lemon::StaticDigraph::ArcMap<Integer> costs(graph);
  lemon::StaticDigraph::NodeMap<Integer> supplies(graph);
  for (lemon::StaticDigraph::ArcIt arc(graph); arc != lemon::INVALID; ++arc) {
    const Index i = graph.index(graph.source(arc)), j = graph.index(graph.target(arc)) - n;
    costs[arc] = Integer(std::llround(cost(i, j) * cost_scale));
  }
  for (Index i = 0; i < n; ++i) supplies[graph.node(int(i))] = supply_a[i];
  for (Index j = 0; j < m; ++j) supplies[graph.node(int(n + j))] = -supply_b[j];

  lemon::NetworkSimplex<lemon::StaticDigraph, Integer, Integer> simplex(graph);
  simplex.costMap(costs).supplyMap(supplies);
  const auto outcome = simplex.run();
  if (outcome != decltype(simplex)::OPTIMAL) {
    throw InvalidArgument("exact OT: no feasible plan (the forbidden pairs cut some mass off)",
                          "cost");
  }
  ExactResult result;
  result.plan = Matrix<double>::Zero(n, m);
  for (lemon::StaticDigraph::ArcIt arc(graph); arc != lemon::INVALID; ++arc) {
    const Integer flow = simplex.flow(arc);
    if (flow != 0) {
      result.plan(graph.index(graph.source(arc)), graph.index(graph.target(arc)) - n) =
          double(flow) / supply_scale;
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

template <typename T>
ExactResult exact_ot(const Problem<T>& problem, std::uint64_t memory_limit) {
  if (problem.rho_a != kInf || problem.rho_b != kInf) {
    throw InvalidArgument(
        "exact OT is balanced only (rho_a = rho_b = inf); for unequal masses or relaxed sides "
        "solve the entropic problem",
        problem.rho_a != kInf ? "rho_a" : "rho_b");
  }
  const Geometry<T>& geometry = *problem.geometry;
  require_dense_fits(problem.n(), problem.m(), kExactBytesPerEntry, "exact OT",
                     "use an entropic solve at small epsilon instead (its cost approaches the "
                     "exact one), or fewer points",
                     memory_limit, geometry.bytes());
  Matrix<double> cost(problem.n(), problem.m());
  Matrix<T> scratch;
  for (Index i0 = 0; i0 < problem.n(); i0 += 64) {
    const Index rows = std::min<Index>(64, problem.n() - i0);
    cost.middleRows(i0, rows) =
        geometry.tile(i0, 0, rows, problem.m(), scratch).template cast<double>();
  }
  return exact_ot(cost, problem.a.template cast<double>(), problem.b.template cast<double>());
}

template ExactResult exact_ot(const Problem<float>&, std::uint64_t);
template ExactResult exact_ot(const Problem<double>&, std::uint64_t);

}  // namespace eot
