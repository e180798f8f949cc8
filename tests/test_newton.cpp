// The Newton stage, the stall detector and the relative stopping test (docs/conventions.md,
// "The Newton stage" and "Reported values"), against an independent solver and closed forms.
#include <doctest/doctest.h>

#include "helpers.hpp"

using namespace test;

namespace {

// A case of data/newton/ (make_reference.py: dense semi-dual Newton with epsilon continuation).
struct Reference {
  eot::Problem<double> problem;
  VectorXd f, g;
};

Reference reference(const std::string& name, double epsilon) {
  const std::string folder = data_path("newton/" + name + "/");
  return {dense_problem(eot::io::read_matrix(folder + "cost.csv"), epsilon),
          eot::io::read_vector(folder + "f.csv"), eot::io::read_vector(folder + "g.csv")};
}

// The largest difference of two balanced potentials, up to the gauge f - k, g + k.
double potential_distance(const VectorXd& f, const VectorXd& g, const VectorXd& rf,
                          const VectorXd& rg) {
  const double k = (f - rf).mean();
  return std::max((f.array() - k - rf.array()).abs().maxCoeff(),
                  (g.array() + k - rg.array()).abs().maxCoeff());
}

}  // namespace

TEST_CASE("Newton: 50 points at epsilon 1e-3 converge within the budget, as the reference") {
  // Over-relaxed Sinkhorn alone needs 151 570 iterations here; Newton steps, a few dozen.
  const Reference ref = reference("points50_eps1e-3", 1e-3);
  eot::SolverOptions options;
  options.tolerance = 1e-8;
  const eot::Result r = eot::solve(ref.problem, options);
  REQUIRE(r.converged());
  CHECK(r.newton_steps > 0);
  CHECK(r.iterations < 3000);
  CHECK(max_abs_diff(ref.problem.plan(r.f, r.g), ref.problem.plan(ref.f, ref.g)) < 1e-8);
  options.newton = eot::NewtonMode::On;
  CHECK(eot::solve(ref.problem, options).iterations < 100);
  options.tolerance = 1e-12;
  options.newton = eot::NewtonMode::Auto;
  const eot::Result tight = eot::solve(ref.problem, options);
  REQUIRE(tight.converged());
  CHECK(potential_distance(tight.f, tight.g, ref.f, ref.g) < 1e-7);
  CHECK(max_abs_diff(ref.problem.plan(tight.f, tight.g), ref.problem.plan(ref.f, ref.g)) < 1e-13);

  options.tolerance = 1e-8;
  options.newton = eot::NewtonMode::Off;
  const eot::Result sinkhorn = eot::solve(ref.problem, options);
  CHECK(sinkhorn.status == eot::Status::MaxIterationsReached);
  CHECK(sinkhorn.newton_steps == 0);
}

TEST_CASE("Newton: 200 points at epsilon 1e-4 of the cost range converge to 1e-9 by default") {
  const Reference ref = reference("points200_eps1e-4", 1e-4);
  const eot::Result r = eot::solve(ref.problem);
  REQUIRE(r.converged());
  CHECK(r.newton_steps > 0);
  // The plan falls apart into pieces joined by entries below rounding: the potentials of one
  // piece against another are not determined, the plan is (docs/conventions.md).
  const MatrixD plan = ref.problem.plan(r.f, r.g), expected = ref.problem.plan(ref.f, ref.g);
  CHECK(max_abs_diff(plan, expected) < 1e-9);
  const MatrixD cost = eot::io::read_matrix(data_path("newton/points200_eps1e-4/cost.csv"));
  CHECK(r.transport_cost == doctest::Approx(plan.cwiseProduct(cost).sum()).epsilon(1e-14));
  CHECK(std::abs(r.transport_cost - expected.cwiseProduct(cost).sum()) < 1e-10);
}

TEST_CASE("Newton: every constrained regime reaches Sinkhorn's answer") {
  const MatrixD c = uniform_matrix(20, 30, 301);
  struct Case {
    const char* name;
    double rho_a, rho_b, mass_b;
  };
  for (const Case& regime :
       {Case{"balanced", eot::kInf, eot::kInf, 1.0}, Case{"semi-relaxed", eot::kInf, 0.5, 1.7},
        Case{"unbalanced", 0.3, 0.8, 1.7}}) {
    CAPTURE(std::string(regime.name));
    eot::Problem<double> p = dense_problem(c, 0.01);
    p.a = weights(20, 302);
    p.b = weights(30, 303, regime.mass_b);
    p.rho_a = regime.rho_a;
    p.rho_b = regime.rho_b;
    eot::SolverOptions sinkhorn, newton;
    sinkhorn.tolerance = newton.tolerance = 1e-11;
    sinkhorn.max_iterations = 1000000;
    sinkhorn.newton = eot::NewtonMode::Off;
    newton.newton = eot::NewtonMode::On;
    const eot::Result rs = eot::solve(p, sinkhorn), rn = eot::solve(p, newton);
    REQUIRE(rs.converged());
    REQUIRE(rn.converged());
    CHECK(rn.newton_steps > 0);
    CHECK(rn.iterations < rs.iterations);
    CHECK(max_abs_diff(p.plan(rn.f, rn.g), p.plan(rs.f, rs.g)) < 1e-10);
    CHECK(rn.gap == doctest::Approx(0).scale(1e-9));
  }
}

TEST_CASE("the stopping test is relative to the mass the marginals aim at") {
  // Unbalanced with costs near 1e5 at epsilon 0.05: the optimal plan's mass underflows to
  // about exp(-1e5 / 2.05). Adding k to the cost moves f by rho_a k / (epsilon + rho_a + rho_b)
  // and g by rho_b k / (...) (the first-order conditions), and keeps the plan's shape.
  const MatrixD c = uniform_matrix(8, 6, 311);
  const double k = 1e5, epsilon = 0.05, rho_a = 0.7, rho_b = 1.3;
  eot::Problem<double> p = dense_problem(c, epsilon),
                       shifted = dense_problem(c.array() + k, epsilon);
  p.rho_a = shifted.rho_a = rho_a;
  p.rho_b = shifted.rho_b = rho_b;
  const eot::Result r = eot::solve(p), rs = eot::solve(shifted);
  REQUIRE(r.converged());
  REQUIRE(rs.converged());
  const double law = k / (epsilon + rho_a + rho_b);
  CHECK((rs.f.array() - r.f.array() - rho_a * law).abs().maxCoeff() < 1e-8);
  CHECK((rs.g.array() - r.g.array() - rho_b * law).abs().maxCoeff() < 1e-8);
  CHECK(rs.mass == 0);  // below double's range: only the relative test could tell
  CHECK(contains(rs.message, "x the mass the marginals aim at <= 1e-09 x it"));
  CHECK(rs.iterations < 1000);
}

TEST_CASE("a constant offset of the costs costs no digits when a side is hard") {
  // C + 1e6 at epsilon 0.01: |C| / epsilon = 1e8, where potentials in cost units would carry
  // an error of 1e8 x 2^-53 relative into the plan. Each regime with a hard side gives the plan
  // of C itself, f moved by the offset, and the values of C + 1e6. (C is taken as it comes back
  // from C + 1e6, rounded to 1e6's precision: the offset problem cannot know better.)
  const double k = 1e6, epsilon = 0.01;
  const MatrixD c = (uniform_matrix(20, 30, 321).array() + k) - k;
  for (const auto& rhos : {std::pair{eot::kInf, 0.0},
                           {eot::kInf, eot::kInf},
                           {eot::kInf, 1.0},
                           {1.0, eot::kInf},
                           {0.0, eot::kInf}}) {
    const double rho_a = rhos.first, rho_b = rhos.second;  // clang 14 can't CAPTURE a binding
    CAPTURE(rho_a);
    CAPTURE(rho_b);
    eot::Problem<double> p = dense_problem(c, epsilon),
                         offset = dense_problem(c.array() + k, epsilon);
    p.rho_a = offset.rho_a = rho_a;
    p.rho_b = offset.rho_b = rho_b;
    eot::SolverOptions options;
    options.tolerance = 1e-12;
    const eot::Result r = eot::solve(p, options), ro = eot::solve(offset, options);
    REQUIRE(r.converged());
    CHECK(ro.converged());
    if (rho_a == 0 || rho_b == 0) CHECK(ro.iterations == 1);  // the closed form
    CHECK(ro.marginal_error <= 1e-12 * ro.mass);
    // The same plan, through its marginals: exact to rounding, not to 1e8 x 2^-53.
    CHECK(max_abs_diff(ro.row_marginal, r.row_marginal) < 1e-14);
    CHECK(max_abs_diff(ro.col_marginal, r.col_marginal) < 1e-14);
    // The offset goes to the hard side's potential (f when the rows are hard).
    const VectorXd& moved = rho_a == eot::kInf ? ro.f : ro.g;
    const VectorXd& base = rho_a == eot::kInf ? r.f : r.g;
    CHECK((moved.array() - base.array() - k).abs().maxCoeff() < 1e-8);
    CHECK(ro.transport_cost - k * ro.mass == doctest::Approx(r.transport_cost).epsilon(1e-9));
    CHECK(ro.entropy == doctest::Approx(r.entropy).epsilon(1e-12));
    // The gap of the offset problem also counts the offset times what is left of the soft
    // side's marginal error.
    CHECK(std::abs(ro.gap) <= k * ro.marginal_error + 1e-9);
  }
}

TEST_CASE("one-sided attention costs at epsilon 1e-6: one update, exact rows") {
  // -<q, k> with |q| |k| about 10: |C| / epsilon = 1e7. The closed form: each row of the plan
  // is a_i softmax_j(<q_i, k_j> / epsilon), computed here row by row around its largest score.
  const MatrixD q = uniform_matrix(12, 4, 331, -2, 2), k = uniform_matrix(15, 4, 332, -2, 2);
  const double epsilon = 1e-6;
  eot::Problem<double> p(std::make_shared<eot::PointCloud<double>>(q, k, eot::Metric::NegDot),
                         epsilon);
  p.a = VectorXd::Ones(12);
  p.b = VectorXd::Ones(15);
  p.rho_b = 0;
  const eot::Result r = eot::solve(p);
  REQUIRE(r.converged());
  CHECK(r.iterations == 1);
  VectorXd columns = VectorXd::Zero(15);
  for (Index i = 0; i < 12; ++i) {
    const Eigen::ArrayXd s = (k * q.row(i).transpose()).array() / epsilon;
    const Eigen::ArrayXd e = (s - s.maxCoeff()).exp();
    columns += (e / e.sum()).matrix();
  }
  CHECK(max_abs_diff(r.col_marginal, columns) < 1e-13);
  CHECK(max_abs_diff(r.row_marginal, VectorXd::Ones(12)) < 1e-14);
}

TEST_CASE("a solve at the precision's floor ends as stalled, naming the floor") {
  const Reference ref = reference("points50_eps1e-3", 1e-3);
  eot::SolverOptions options;
  options.tolerance = 1e-17;  // below what double resolves at |C| / epsilon = 1000
  const eot::Result r = eot::solve(ref.problem, options);
  CHECK(r.status == eot::Status::Stalled);
  CHECK(r.iterations < 5000);  // well before the budget of 10 000
  CHECK(contains(r.message, "puts a floor near"));
  CHECK(r.marginal_error < 1e-13);
  CHECK(std::string(eot::to_string(eot::Status::Stalled)) == "stalled");
}

TEST_CASE("Newton modes have names, and the sparse plan keeps a row's largest entries") {
  for (eot::NewtonMode mode : {eot::NewtonMode::Auto, eot::NewtonMode::On, eot::NewtonMode::Off})
    CHECK(eot::newton_mode_from_string(eot::to_string(mode)) == mode);
  CHECK(contains(message_of<eot::InvalidArgument>([] { eot::newton_mode_from_string("yes"); }),
                 "newton: unknown mode 'yes'; expected auto, on or off"));

  const eot::CostMatrix<double> cost(uniform_matrix(70, 300, 321));
  const VectorXd alpha = uniform_matrix(70, 1, 322, -1, 1), beta = uniform_matrix(300, 1, 323);
  const double epsilon = 0.05;
  const MatrixD plan = cost.plan(alpha, beta, epsilon, 1);
  const VectorXd row_floor = 1e-3 * plan.rowwise().sum(),
                 col_floor = 0.2 * plan.colwise().sum().transpose();
  const eot::SparsePlan sparse =
      cost.select_plan(alpha, beta, epsilon, row_floor, col_floor, 40, 2);
  REQUIRE(sparse.start.size() == 71);
  for (Index i = 0; i < 70; ++i) {
    std::vector<std::pair<double, Index>> expected;  // (P_ij, j) of the entries above a floor
    for (Index j = 0; j < 300; ++j) {
      if (plan(i, j) >= row_floor[i] || plan(i, j) >= col_floor[j])
        expected.emplace_back(plan(i, j), j);
    }
    std::sort(expected.rbegin(), expected.rend());
    expected.resize(std::min<std::size_t>(expected.size(), 40));
    std::vector<Index> columns;
    for (const auto& entry : expected) columns.push_back(entry.second);
    std::sort(columns.begin(), columns.end());
    const std::vector<Index> kept(sparse.col.begin() + sparse.start[i],
                                  sparse.col.begin() + sparse.start[i + 1]);
    CHECK(kept == columns);
    for (Index k = sparse.start[i]; k < sparse.start[i + 1]; ++k)
      CHECK(sparse.value[k] == doctest::Approx(plan(i, sparse.col[k])).epsilon(1e-14));
  }
}
