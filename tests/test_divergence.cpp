// The Sinkhorn divergence: its defining properties, its value terms against the general solver,
// and every gradient against central finite differences of the divergence itself.
#include <doctest/doctest.h>

#include "helpers.hpp"

using namespace test;

namespace {

eot::SolverOptions tight() {
  eot::SolverOptions o;
  o.tolerance = 1e-13;
  o.max_iterations = 100000;
  return o;
}

double divergence(const MatrixD& x, const MatrixD& y, eot::Metric metric, const VectorXd& a,
                  const VectorXd& b, double epsilon, double rho) {
  const eot::DivergenceResult r =
      eot::sinkhorn_divergence(x, y, metric, a, b, epsilon, rho, tight());
  REQUIRE(r.status == eot::Status::Converged);
  return r.divergence;
}

}  // namespace

TEST_CASE("Sinkhorn divergence: zero on equal measures, positive otherwise, OT terms as solve()") {
  const MatrixD x = uniform_matrix(9, 2, 601), y = uniform_matrix(7, 2, 602, 0.3, 1.3);
  for (double rho : {eot::kInf, 0.5}) {
    CAPTURE(rho);
    const VectorXd a = weights(9, 603), b = weights(7, 604, rho == eot::kInf ? 1.0 : 1.4);
    const eot::DivergenceResult same =
        eot::sinkhorn_divergence(x, x, eot::Metric::SqEuclidean, a, a, 0.05, rho, tight());
    REQUIRE(same.status == eot::Status::Converged);
    CHECK(std::abs(same.divergence) < 1e-12);
    CHECK(same.grad_x.cwiseAbs().maxCoeff() < 1e-10);
    const eot::DivergenceResult r =
        eot::sinkhorn_divergence(x, y, eot::Metric::SqEuclidean, a, b, 0.05, rho, tight());
    REQUIRE(r.status == eot::Status::Converged);
    CHECK(r.divergence > 1e-3);
    // The value terms are the general solver's optimal values (its dual, = primal).
    for (const auto& [points, w, value] :
         {std::tuple{&x, &a, r.ot_xx}, std::tuple{&y, &b, r.ot_yy}}) {
      eot::Problem<double> p(std::make_shared<eot::PointCloud<double>>(*points, *points), 0.05);
      p.a = p.b = *w;
      p.rho_a = p.rho_b = rho;
      const eot::Result s = eot::solve(p, tight());
      REQUIRE(s.converged());
      CHECK(value == doctest::Approx(s.primal).epsilon(1e-11));
    }
    eot::Problem<double> p(std::make_shared<eot::PointCloud<double>>(x, y), 0.05);
    p.a = a;
    p.b = b;
    p.rho_a = p.rho_b = rho;
    CHECK(r.ot_xy == doctest::Approx(eot::solve(p, tight()).primal).epsilon(1e-11));
  }
}

TEST_CASE("Sinkhorn divergence: gradients match central finite differences, every metric") {
  const MatrixD x = uniform_matrix(5, 2, 611), y = uniform_matrix(6, 2, 612, -0.5, 1.5);
  const double epsilon = 0.1, h = 1e-5;
  for (eot::Metric metric : eot::kMetrics) {
    for (double rho : {eot::kInf, 0.7}) {
      CAPTURE(eot::to_string(metric));
      CAPTURE(rho);
      const VectorXd a = weights(5, 613), b = weights(6, 614, rho == eot::kInf ? 1.0 : 1.3);
      const eot::DivergenceResult r =
          eot::sinkhorn_divergence(x, y, metric, a, b, epsilon, rho, tight());
      REQUIRE(r.status == eot::Status::Converged);
      for (Index i = 0; i < 5; ++i) {
        for (Index k = 0; k < 2; ++k) {
          MatrixD plus = x, minus = x;
          plus(i, k) += h;
          minus(i, k) -= h;
          const double fd = (divergence(plus, y, metric, a, b, epsilon, rho) -
                             divergence(minus, y, metric, a, b, epsilon, rho)) /
                            (2 * h);
          CHECK(r.grad_x(i, k) == doctest::Approx(fd).epsilon(1e-6).scale(1e-3));
        }
      }
      for (Index j = 0; j < 6; ++j) {
        MatrixD plus = y, minus = y;
        plus(j, 1) += h;
        minus(j, 1) -= h;
        const double fd = (divergence(x, plus, metric, a, b, epsilon, rho) -
                           divergence(x, minus, metric, a, b, epsilon, rho)) /
                          (2 * h);
        CHECK(r.grad_y(j, 1) == doctest::Approx(fd).epsilon(1e-6).scale(1e-3));
      }
      // Weights: balanced problems need equal masses, so move mass from entry 0 to entry i
      // (the gradient is defined up to a constant there).
      for (Index i = 1; i < 5; ++i) {
        VectorXd plus = a, minus = a;
        plus[i] += h;
        minus[i] -= h;
        if (rho == eot::kInf) plus[0] -= h, minus[0] += h;
        const double fd = (divergence(x, y, metric, plus, b, epsilon, rho) -
                           divergence(x, y, metric, minus, b, epsilon, rho)) /
                          (2 * h);
        const double predicted = rho == eot::kInf ? r.grad_a[i] - r.grad_a[0] : r.grad_a[i];
        CHECK(predicted == doctest::Approx(fd).epsilon(1e-6).scale(1e-3));
      }
      if (rho != eot::kInf) {
        VectorXd plus = b, minus = b;
        plus[3] += h;
        minus[3] -= h;
        const double fd = (divergence(x, y, metric, a, plus, epsilon, rho) -
                           divergence(x, y, metric, a, minus, epsilon, rho)) /
                          (2 * h);
        CHECK(r.grad_b[3] == doctest::Approx(fd).epsilon(1e-6).scale(1e-3));
      }
    }
  }
}
