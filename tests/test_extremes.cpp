// Extreme values (issue: reliability): whatever the scale of costs, epsilon and weights, a
// solve returns only finite numbers, and says with its status when it did not converge.
#include <doctest/doctest.h>

#include <limits>

#include "helpers.hpp"

using namespace test;

namespace {

// Every number a result carries is finite.
bool all_finite(const eot::Result& r) {
  const double values[] = {
      r.marginal_error, r.transport_cost, r.primal, r.dual, r.gap, r.entropy, r.mass};
  return std::all_of(std::begin(values), std::end(values),
                     [](double v) { return std::isfinite(v); }) &&
         r.f.allFinite() && r.g.allFinite() && r.row_marginal.allFinite() &&
         r.col_marginal.allFinite();
}

template <typename T>
eot::Result solve_dense(const MatrixD& cost, const VectorXd& a, const VectorXd& b, double epsilon,
                        double rho_a, double rho_b, int max_iterations = 2000) {
  eot::Problem<T> p = dense_problem<T>(cost, epsilon);
  p.a = a.cast<T>();
  p.b = b.cast<T>();
  p.rho_a = rho_a;
  p.rho_b = rho_b;
  eot::SolverOptions o;
  o.max_iterations = max_iterations;
  return eot::solve(p, o);
}

// The mass a side's marginal aims at (docs/conventions.md, "Reported values"): the weights on a
// hard side, w exp(-potential / rho) on a soft one, nothing on a free one. Converged means a
// marginal error within the tolerance times the larger of the two.
double aimed_mass(const VectorXd& w, const VectorXd& potential, double rho) {
  if (rho == 0) return 0;
  if (rho == eot::kInf) return w.sum();
  return (w.array() * (-potential.array() / rho).exp()).sum();
}

}  // namespace

// Costs of scale 1e-12 to 1e12, positive, negative or offset; epsilon from 1e-8 to 1e12 of
// the cost range; weights down to 1e-300; every regime; double and float. Small epsilons do
// not converge within the budget (the achievable marginal error is about 1e-16 range /
// epsilon in double): the status says so, and the values are still finite.
TEST_CASE_TEMPLATE("extreme costs, epsilons and weights give finite results", T, double, float) {
  const double inf = eot::kInf;
  int cases = 0, converged = 0;
  for (double scale : {1e-12, 1.0, 1e12}) {
    for (double shift : {0.0, -1.0, 1.0}) {  // costs in [0, 1], [-1, 0] or [1, 2] times scale
      const MatrixD cost = (uniform_matrix(5, 4, 7).array() + shift) * scale;
      const double range = cost.maxCoeff() - cost.minCoeff();
      for (double relative_eps : {1e-8, 1e-4, 1.0, 1e4, 1e12}) {
        for (double tiny : {1.0, 1e-300}) {
          VectorXd a = weights(5, 1), b = weights(4, 2);
          a[0] *= tiny;  // in float, 1e-300 becomes a zero weight
          b[3] *= tiny;
          b *= a.sum() / b.sum();
          for (const auto& pair : {std::pair{inf, inf}, {inf, 0.0}, {1.0, 1.0}, {inf, 1.0}}) {
            const auto rho_a = pair.first;
            const auto rho_b = pair.second;
            const double epsilon = relative_eps * range;
            INFO("scale ", scale, ", shift ", shift, ", epsilon ", epsilon);
            if (cost.cwiseAbs().maxCoeff() / epsilon > 1 / std::numeric_limits<T>::epsilon()) {
              // Beyond what T resolves: refused up front, with the reason.
              CHECK(contains(message_of<eot::InvalidArgument>([&] {
                               solve_dense<T>(cost, a, b, epsilon, rho_a * scale, rho_b * scale);
                             }),
                             "|C| / epsilon"));
              continue;
            }
            const eot::Result r =
                solve_dense<T>(cost, a, b, epsilon, rho_a * scale, rho_b * scale, 500);
            INFO("tiny ", tiny, ", rho ", rho_a, " ", rho_b, ": ", r.message);
            CHECK(all_finite(r));
            CHECK(r.status != eot::Status::NumericalFailure);
            // Converged means what it says (the aimed masses from the returned potentials, to
            // rounding).
            const double aimed = std::max(aimed_mass(a, r.f, rho_a * scale),
                                          aimed_mass(b, r.g, rho_b * scale));
            if (r.converged()) CHECK(r.marginal_error <= r.tolerance * aimed * (1 + 1e-6));
            ++cases;
            converged += r.converged();
          }
        }
      }
    }
  }
  CHECK(converged > cases / 2);  // every epsilon >= the cost range converges
}

TEST_CASE_TEMPLATE("degenerate shapes and supports give finite, exact results", T, double, float) {
  const double inf = eot::kInf;
  // Marginals are exact up to the rounding of C / epsilon in T.
  const auto tol = [](const MatrixD& cost, double epsilon) {
    const double finite = (cost.array() < eot::kInf).select(cost.cwiseAbs(), 0.0).maxCoeff();
    return 1e-14 + 8 * std::numeric_limits<T>::epsilon() * std::max(1.0, finite / epsilon);
  };

  SUBCASE("one row or one column: the plan is the other side's weights") {
    for (const auto& pair : {std::pair<Index, Index>{1, 6}, {6, 1}, {1, 1}}) {
      const auto n = pair.first;
      const auto m = pair.second;
      const MatrixD cost = uniform_matrix(n, m, 3, -1e3, 1e3);
      const VectorXd a = weights(n, 4), b = weights(m, 5);
      for (double epsilon : {1e-2, 1.0, 1e12}) {
        const eot::Result r = solve_dense<T>(cost, a, b, epsilon, inf, inf);
        INFO(n, " x ", m, ", epsilon ", epsilon, ": ", r.message);
        CHECK(r.converged());
        CHECK(all_finite(r));
        CHECK((r.row_marginal - a).cwiseAbs().maxCoeff() < tol(cost, epsilon));
        CHECK((r.col_marginal - b).cwiseAbs().maxCoeff() < tol(cost, epsilon));
      }
    }
  }

  SUBCASE("zero weights carry no mass, whatever the regime") {
    VectorXd a = weights(5, 6), b = weights(4, 7);
    a[2] = 0;
    b[0] = 0;
    b *= a.sum() / b.sum();
    for (const auto& pair : {std::pair{inf, inf}, {inf, 0.0}, {0.5, 0.5}}) {
      const auto rho_a = pair.first;
      const auto rho_b = pair.second;
      const eot::Result r = solve_dense<T>(uniform_matrix(5, 4, 8), a, b, 0.05, rho_a, rho_b);
      CHECK(r.converged());
      CHECK(all_finite(r));
      CHECK(r.row_marginal[2] == 0);
      if (rho_b > 0) CHECK(r.col_marginal[0] == 0);
    }
  }

  SUBCASE("forbidden pairs carry no mass") {
    MatrixD cost = uniform_matrix(4, 4, 9);
    cost(0, 0) = cost(1, 2) = cost(3, 3) = inf;
    const eot::Result r = solve_dense<T>(cost, weights(4, 1), weights(4, 2), 0.01, inf, inf);
    CHECK(r.converged());
    CHECK(all_finite(r));
    auto p = dense_problem<T>(cost, 0.01);
    p.a = weights(4, 1).cast<T>();
    p.b = weights(4, 2).cast<T>();
    const auto plan = p.plan(r.f, r.g);
    CHECK(plan(0, 0) == 0);
    CHECK(plan(1, 2) == 0);
    CHECK(plan(3, 3) == 0);
  }

  SUBCASE("one-sided, every column but one forbidden: all mass goes to it") {
    MatrixD cost = MatrixD::Constant(3, 5, inf);
    cost.col(2) = uniform_matrix(3, 1, 10, -1e12, 1e12);
    const VectorXd a = weights(3, 11);
    for (double epsilon : {1e7, 1e12, 1e24}) {
      const eot::Result r = solve_dense<T>(cost, a, weights(5, 12), epsilon, inf, 0);
      CHECK(r.converged());
      CHECK(all_finite(r));
      CHECK(std::abs(r.col_marginal[2] - a.sum()) < tol(cost, epsilon));
      CHECK(r.col_marginal.sum() == doctest::Approx(r.col_marginal[2]));
    }
  }
}

TEST_CASE("a solution beyond double's range is a numerical failure with finite values") {
  // Free rows, a soft column side and a cost of -1500: the exact plan has mass about e^750.
  eot::Problem<double> p = dense_problem(MatrixD::Constant(1, 1, -1500), 1);
  p.rho_a = 0;
  p.rho_b = 1;
  const eot::Result r = eot::solve(p);
  CHECK(r.status == eot::Status::NumericalFailure);
  CHECK(all_finite(r));
  CHECK(contains(r.message, "mass, transport_cost"));
  CHECK(contains(r.message, "(reported as 0)"));
}
