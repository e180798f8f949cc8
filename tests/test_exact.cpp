// The exact (epsilon = 0) solver against brute force and the 1-D sorted coupling, and the
// entropic solutions against it.
#include <doctest/doctest.h>

#include "helpers.hpp"

using namespace test;

namespace {

void check_optimality(const eot::ExactResult& r, const MatrixD& c, const VectorXd& a,
                      const VectorXd& b) {
  CHECK(max_abs_diff(r.plan.rowwise().sum(), a) < 1e-14);
  CHECK(max_abs_diff(r.plan.colwise().sum().transpose(), b) < 1e-14);
  CHECK(r.plan.minCoeff() >= 0);
  CHECK(r.dual == doctest::Approx(r.cost).epsilon(1e-10));  // strong duality
  double violation = 0;
  for (Index i = 0; i < c.rows(); ++i) {
    for (Index j = 0; j < c.cols(); ++j) {
      if (c(i, j) < eot::kInf) violation = std::max(violation, r.f[i] + r.g[j] - c(i, j));
    }
  }
  CHECK(violation < 1e-9);  // f_i + g_j <= C_ij
}

}  // namespace

TEST_CASE("exact OT equals the best assignment on tiny uniform problems") {
  for (int n = 1; n <= 7; ++n) {
    CAPTURE(n);
    const MatrixD c = uniform_matrix(n, n, 500 + n);
    const VectorXd w = VectorXd::Constant(n, 1.0 / n);
    const eot::ExactResult r = eot::exact_ot(c, w, w);
    CHECK(r.cost == doctest::Approx(brute_force_assignment(c)).epsilon(1e-11));
    check_optimality(r, c, w, w);
  }
}

TEST_CASE("exact OT equals the sorted coupling in 1-D, with real-valued weights") {
  const VectorXd x = uniform_matrix(13, 1, 511), y = uniform_matrix(17, 1, 512);
  const VectorXd a = weights(13, 513, 2.5), b = weights(17, 514, 2.5);
  MatrixD c(13, 17);
  for (Index i = 0; i < 13; ++i) {
    for (Index j = 0; j < 17; ++j) c(i, j) = (x[i] - y[j]) * (x[i] - y[j]);
  }
  const eot::ExactResult r = eot::exact_ot(c, a, b);
  CHECK(r.cost == doctest::Approx(sorted_coupling_cost(x, a, y, b, [](double d) {
                    return d * d;
                  })).epsilon(1e-11));
  check_optimality(r, c, a, b);
}

TEST_CASE("the entropic transport cost approaches the exact one as epsilon shrinks") {
  const MatrixD x = uniform_matrix(30, 2, 521), y = uniform_matrix(25, 2, 522);
  eot::Problem<double> p(std::make_shared<eot::PointCloud<double>>(x, y), 1.0);
  MatrixD c;
  {
    MatrixD scratch;
    c = p.geometry->tile(0, 0, 30, 25, scratch);
  }
  const double exact = eot::exact_ot(c, p.a.cast<double>(), p.b.cast<double>()).cost;
  double previous = eot::kInf;
  for (double epsilon : {0.1, 0.03, 0.01, 0.003, 0.001}) {
    CAPTURE(epsilon);
    p.epsilon = epsilon;
    eot::SolverOptions o;
    o.max_iterations = 100000;
    o.epsilon_scaling.enabled = true;
    const eot::Result r = eot::solve(p, o);
    REQUIRE(r.converged());
    const double excess = r.transport_cost - exact;
    CHECK(excess >= -1e-8);
    CHECK(excess <= epsilon * std::log(25.0) + 1e-8);
    CHECK(excess < previous);
    previous = excess;
  }
  CHECK(previous < 1e-3);
}

TEST_CASE("exact OT: forbidden pairs, and bad input") {
  MatrixD c = uniform_matrix(3, 3, 531);
  c(0, 0) = c(1, 1) = eot::kInf;
  const VectorXd w = VectorXd::Constant(3, 1.0 / 3);
  const eot::ExactResult r = eot::exact_ot(c, w, w);
  CHECK(r.plan(0, 0) == 0);
  CHECK(r.plan(1, 1) == 0);
  check_optimality(r, c, w, w);
  c.row(2).setConstant(eot::kInf);
  CHECK(contains(message_of<eot::InvalidArgument>([&] { eot::exact_ot(c, w, w); }),
                 "no feasible plan"));
  const MatrixD ok = uniform_matrix(3, 3, 532);
  CHECK(contains(message_of<eot::InvalidArgument>([&] { eot::exact_ot(ok, w, 2 * w); }),
                 "exact OT needs equal positive masses"));
  CHECK(contains(message_of<eot::InvalidArgument>([&] { eot::exact_ot(ok, VectorXd::Ones(2), w); }),
                 "a has 2 entries but the cost has 3"));
}

TEST_CASE(
    "exact OT of a problem: point clouds as their dense costs, balanced only, within memory") {
  const MatrixD x = uniform_matrix(30, 2, 531), y = uniform_matrix(40, 2, 532);
  eot::Problem<double> p(std::make_shared<eot::PointCloud<double>>(x, y), 1.0);
  p.a = weights(30, 533);
  p.b = weights(40, 534);
  MatrixD c(30, 40);
  for (Index i = 0; i < 30; ++i) {
    for (Index j = 0; j < 40; ++j) c(i, j) = (x.row(i) - y.row(j)).squaredNorm();
  }
  const eot::ExactResult r = eot::exact_ot(p);
  check_optimality(r, c, p.a, p.b);
  CHECK(r.cost == doctest::Approx(eot::exact_ot(c, p.a, p.b).cost).epsilon(1e-14));

  p.rho_b = 2;
  CHECK(contains(message_of<eot::InvalidArgument>([&] { eot::exact_ot(p); }),
                 "exact OT is balanced only"));
  p.rho_b = eot::kInf;
  p.b *= 1.5;
  try {
    eot::exact_ot(p);
    FAIL("unequal masses accepted");
  } catch (const eot::InvalidArgument& e) {
    CHECK(e.field() == "masses");
    CHECK(contains(e.what(), "sum(b) - sum(a) = 0.5"));
    CHECK(contains(e.what(), "or solve the entropic problem with a relaxed side"));
  }
  p.b /= 1.5;
  // 30 x 40 x 96 bytes = 115 kB does not fit in 100 kB: refused before any work.
  CHECK(contains(message_of<eot::InvalidArgument>([&] { eot::exact_ot(p, 100'000); }),
                 "exact OT (30 x 40) needs 115 kB but"));
}
