// Plans and costs from POT (data/pot, made by data/pot/make_reference.py); no Python needed.
#include <doctest/doctest.h>

#include "helpers.hpp"

using namespace test;

TEST_CASE("plans and costs match POT's reference solutions") {
  for (const char* name :
       {"balanced_small", "balanced_medium", "unbalanced", "balanced_forbidden"}) {
    CAPTURE(name);
    const std::string dir = data_path(std::string("pot/") + name + "/");
    const MatrixD cost = eot::io::read_matrix(dir + "cost.csv");
    const MatrixD expected = eot::io::read_matrix(dir + "plan.csv");
    const VectorXd params = eot::io::read_vector(dir + "params.csv");
    eot::Problem<double> p = dense_problem(cost, params[0]);
    p.a = eot::io::read_vector(dir + "a.csv");
    p.b = eot::io::read_vector(dir + "b.csv");
    p.rho_a = params[1];
    p.rho_b = params[2];
    eot::SolverOptions o;
    o.tolerance = 1e-13;
    const eot::Result r = eot::solve(p, o);
    REQUIRE(r.converged());
    CHECK(max_abs_diff(p.plan(r.f, r.g), expected) < 1e-12 * expected.maxCoeff());
    CHECK(r.transport_cost == doctest::Approx(params[3]).epsilon(1e-11));
  }
}
