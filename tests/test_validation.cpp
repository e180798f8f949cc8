// Every rule solve() checks before the first iteration, by its message.
#include <doctest/doctest.h>

#include "helpers.hpp"

using namespace test;

namespace {

std::string rejection(const eot::Problem<double>& p, const eot::SolverOptions& o = {}) {
  return message_of<eot::InvalidArgument>([&] { eot::solve(p, o); });
}

}  // namespace

TEST_CASE("bad problems are refused with the field, the value and the rule") {
  eot::Problem<double> p = dense_problem(uniform_matrix(5, 4, 1), 0.1);
  const eot::Problem<double> good = p;
  CHECK(rejection(good).empty());

  SUBCASE("sizes") {
    p.a = VectorXd::Constant(4, 0.25);
    CHECK(rejection(p) == "a has 4 entries but the cost has 5 rows");
    p = good;
    p.b = VectorXd::Constant(5, 0.2);
    CHECK(rejection(p) == "b has 5 entries but the cost has 4 columns");
  }
  SUBCASE("weights") {
    p.b[2] = -0.1;
    CHECK(rejection(p) == "b(2) is -0.1: weights must be finite and >= 0");
    p.b[2] = std::nan("");
    CHECK(rejection(p) == "b(2) is nan: weights must be finite and >= 0");
    p = good;
    p.a.setZero();
    CHECK(rejection(p) == "a: the total mass is 0; at least one weight must be positive");
  }
  SUBCASE("zero weights are allowed") {
    p.a[1] = 0;
    p.a *= 1 / p.a.sum();
    CHECK(eot::solve(p).converged());
  }
  SUBCASE("epsilon") {
    for (double e : {0.0, -1.0, eot::kInf, std::nan("")}) {
      p.epsilon = e;
      CHECK(contains(rejection(p), ": it must be positive and finite"));
    }
    p.epsilon = -1;
    CHECK(rejection(p) == "epsilon is -1: it must be positive and finite");
  }
  SUBCASE("epsilon must be resolvable next to the costs") {
    p = dense_problem(MatrixD::Constant(2, 2, -3e12), 1e-4);
    CHECK(rejection(p) ==
          "epsilon is 0.0001 but the costs reach 3e+12: |C| / epsilon = 3e+16 is beyond what "
          "double resolves (4.5036e+15); raise epsilon, shift or rescale the costs");
    const eot::Problem<float> q(
        std::make_shared<eot::CostMatrix<float>>(Eigen::MatrixXf::Ones(2, 2)), 1e-7);
    CHECK(contains(message_of<eot::InvalidArgument>([&] { eot::solve(q); }),
                   "is beyond what float resolves (8.38861e+06); raise epsilon, shift or rescale "
                   "the costs, or use double"));
  }
  SUBCASE("rho") {
    p.rho_a = -2;
    CHECK(rejection(p) == "rho_a is -2: it must be in [0, inf] (inf = hard, 0 = free)");
    p.rho_a = eot::kInf;
    p.rho_b = std::nan("");
    CHECK(rejection(p) == "rho_b is nan: it must be in [0, inf] (inf = hard, 0 = free)");
  }
  SUBCASE("balanced masses must match, never rescaled") {
    p.b *= 2;
    CHECK(rejection(p) ==
          "balanced problem needs equal masses: sum(b) - sum(a) = 1 (sum(a) = 1, sum(b) = 2), "
          "more than 1e-09 x the mass; normalize them, or relax a side with rho_a/rho_b");
    p.rho_b = 1.0;
    CHECK(rejection(p).empty());
  }
  SUBCASE("the mass check is never stricter than rounding, and says by how much sums differ") {
    p.b[0] += 4.4e-16;
    eot::SolverOptions strict;
    strict.tolerance = 1e-16;
    CHECK(message_of<eot::InvalidArgument>([&] { eot::validate(p, strict); }).empty());
    p.b[0] += 1e-6;
    const std::string message = message_of<eot::InvalidArgument>([&] { eot::validate(p, strict); });
    CHECK(contains(message, "sum(b) - sum(a) = 1e-06 ("));
    CHECK(contains(message, "sum(a) = 1, sum(b) = 1.0000010000"));
  }
  SUBCASE("refusals say which field and entry they concern") {
    p.a[2] = -1;
    try {
      eot::validate(p);
      FAIL("not refused");
    } catch (const eot::InvalidArgument& e) {
      CHECK(e.field() == "a");
      CHECK(e.index() == 2);
    }
  }
  SUBCASE("a constrained row or column needs an admissible pair") {
    MatrixD c = uniform_matrix(5, 4, 2);
    c.row(3).setConstant(eot::kInf);
    eot::Problem<double> q = dense_problem(c, 0.1);
    CHECK(rejection(q) ==
          "row 3 has weight a(3) = 0.2 but no admissible column: every pair is forbidden (+inf "
          "cost) or meets a zero weight; allow a pair, give it zero weight, or free the side (rho "
          "= 0)");
    q.a[3] = 0;
    q.b *= 0.8;
    CHECK(rejection(q).empty());
    CHECK(eot::solve(q).converged());

    c = uniform_matrix(5, 4, 2);
    c(0, 1) = eot::kInf;  // column 1 only reaches row 0, which has no weight
    q = dense_problem(c, 0.1);
    q.a[0] = 0;
    q.a *= 1 / q.a.sum();
    q.b = VectorXd::Constant(4, 0.25);
    c.col(1).setConstant(eot::kInf);
    c(0, 1) = 1;
    q = dense_problem(c, 0.1);
    q.a[0] = 0;
    q.a *= 1 / q.a.sum();
    CHECK(contains(rejection(q), "column 1 has weight b(1) = 0.25 but no admissible row"));
    q.rho_b = 0;  // a free side needs nothing
    CHECK(rejection(q).empty());
  }
}

TEST_CASE("a refusal about a block's row names the row of the whole input") {
  MatrixD block = uniform_matrix(3, 4, 2);
  block(2, 1) = std::nan("");
  try {
    eot::CostMatrix<double> cost(block);
    FAIL("a NaN cost was accepted");
  } catch (const eot::InvalidArgument& e) {
    const eot::InvalidArgument whole = e.offset_by(100);
    CHECK(std::string(whole.what()) ==
          "cost(102, 1) is nan: costs must be finite, or +inf for a forbidden pair");
    CHECK(whole.field() == "cost");
    CHECK(whole.index() == 102);
  }
  const eot::InvalidArgument nowhere("epsilon is 0: it must be > 0", "epsilon");
  CHECK(std::string(nowhere.offset_by(100).what()) == nowhere.what());
  CHECK(nowhere.offset_by(100).index() == -1);
}

TEST_CASE("bad options are refused by name") {
  const eot::Problem<double> p = dense_problem(uniform_matrix(3, 3, 3), 0.1);
  eot::SolverOptions o;
  o.max_iterations = 0;
  CHECK(rejection(p, o) == "max_iterations is 0: it must be >= 1");
  o = {};
  o.tolerance = -1;
  CHECK(contains(rejection(p, o), "tolerance is -1: it must be finite and >= 0"));
  o = {};
  o.check_every = 0;
  CHECK(rejection(p, o) == "check_every is 0: it must be >= 1");
  o = {};
  o.epsilon_scaling.factor = 1;
  CHECK(rejection(p, o) == "epsilon_scaling.factor is 1: it must be in (0, 1)");
  o = {};
  o.epsilon_scaling.initial_epsilon = -1;
  CHECK(contains(rejection(p, o), "epsilon_scaling.initial_epsilon is -1"));
  o = {};
  o.epsilon_scaling.iterations_per_stage = 0;
  CHECK(contains(rejection(p, o), "epsilon_scaling.iterations_per_stage is 0"));
  o = {};
  o.acceleration.max_omega = 2;
  CHECK(rejection(p, o) == "acceleration.max_omega is 2: it must be in [1, 2)");
  o = {};
  o.acceleration.omega = 0.5;
  CHECK(rejection(p, o) == "acceleration.omega is 0.5: it must be in [1, 2), or 0 for the rule");
  o = {};
  o.initial_f = VectorXd::Zero(2);
  CHECK(rejection(p, o) == "initial_f has 2 entries; expected 3 (or none for a cold start)");
  o = {};
  o.initial_g = VectorXd::Constant(3, eot::kInf);
  CHECK(rejection(p, o) == "initial_g(0) is inf: it must be finite");
  CHECK(contains(message_of<eot::InvalidArgument>([] { eot::Problem<double> q(nullptr, 1.0); }),
                 "geometry: is null"));
}

TEST_CASE("dense arrays that cannot fit in memory are refused up front, with the alternative") {
  REQUIRE(eot::available_memory() > 0);
  const Index n = 400000;  // a 400000 x 400000 plan: 1.3 TB in double
  const auto cloud =
      std::make_shared<eot::PointCloud<double>>(uniform_matrix(n, 2, 1), uniform_matrix(n, 2, 2));
  const eot::Problem<double> p(cloud, 0.01);
  const std::string message =
      message_of<eot::InvalidArgument>([&] { p.plan(VectorXd::Zero(n), VectorXd::Zero(n)); });
  CHECK(contains(message, "the plan (400000 x 400000) needs 1.28 TB but "));
  CHECK(contains(message, "GB of memory is available; use the potentials instead"));
  CHECK(contains(message_of<eot::InvalidArgument>(
                     [&] { eot::require_dense_fits(1 << 20, 1 << 20, 8, "a test", "do less"); }),
                 "a test (1048576 x 1048576) needs 8.8 TB but "));
}

TEST_CASE("values that would leave double's range are refused up front") {
  const double inf = eot::kInf;
  SUBCASE("a subnormal epsilon") {
    eot::Problem<double> p = dense_problem(MatrixD::Zero(1, 1), 1e-310);
    CHECK(rejection(p) ==
          "epsilon is 1e-310: it is below the smallest normal double (2.22507e-308)");
  }
  SUBCASE("masses whose product overflows") {
    eot::Problem<double> p = dense_problem(MatrixD::Zero(1, 1), 1);
    p.a[0] = p.b[0] = 1e155;
    p.rho_a = p.rho_b = 0;
    CHECK(rejection(p) ==
          "a and b: the masses 1e+155 and 1e+155 multiply beyond what double holds; rescale the "
          "weights");
  }
  SUBCASE("both sides free with a cost far below zero") {
    eot::Problem<double> p = dense_problem(MatrixD::Constant(1, 1, -710), 1);
    p.rho_a = p.rho_b = 0;
    CHECK(contains(rejection(p),
                   "with both sides free the plan is a_i b_j exp(-C_ij / epsilon); "
                   "the smallest cost -710 makes its mass about exp(710)"));
    p.rho_b = inf;  // a hard side normalizes the plan: fine
    CHECK(rejection(p).empty());
  }
  SUBCASE("a warm start whose exp(-g / rho) overflows") {
    eot::Problem<double> p = dense_problem(MatrixD::Zero(1, 1), 1);
    p.rho_a = p.rho_b = 1;
    eot::SolverOptions o;
    o.initial_g = VectorXd::Constant(1, 1e30);
    CHECK(rejection(p, o) ==
          "initial_g(0) is 1e+30: exp(-g / rho) overflows; warm-start from the potentials of a "
          "nearby problem");
  }
  SUBCASE("epsilon scaling that cannot reach the target within the budget") {
    eot::Problem<double> p = dense_problem(uniform_matrix(2, 2, 1), 1e-6);
    p.a = p.b = VectorXd::Constant(2, 0.5);
    eot::SolverOptions o;
    o.epsilon_scaling.enabled = true;
    o.epsilon_scaling.initial_epsilon = 1;
    o.max_iterations = 3;
    CHECK(rejection(p, o) ==
          "epsilon scaling from 1 down to 1e-06 by 0.5 takes 20 stages of 2 iterations, beyond "
          "max_iterations = 3");
    o.max_iterations = 10000;
    o.epsilon_scaling.factor = 0.9999999999;
    CHECK(contains(rejection(p, o), "takes 1.38155e+11 stages"));
  }
}

TEST_CASE("the memory limit: byte counts, the domain choice, refusals up front") {
  CHECK(eot::parse_bytes("1000000") == 1000000);
  CHECK(eot::parse_bytes("400M") == 400ull << 20);
  CHECK(eot::parse_bytes("1.5G") == 3ull << 29);
  CHECK(eot::parse_bytes("2k") == 2048);
  for (const char* bad : {"", "12Q", "-1G", "0", "G", "1e30", "nan"}) {
    CAPTURE(bad);
    CHECK(
        contains(message_of<eot::InvalidArgument>([&] { eot::parse_bytes(bad, "--memory-limit"); }),
                 std::string("--memory-limit is '") + bad + "': expected a byte count"));
  }
  CHECK(eot::format_bytes(3.2e9) == "3.2 GB");
  CHECK(eot::format_bytes(512) == "512 B");

  // Default: a point cloud stores K only up to 256 MB (a 20000 x 20000 K in double is 3.2 GB);
  // a dense cost may have a K of its own size; a free side never stores one.
  const Index n = 20000;
  const eot::Problem<double> big(
      std::make_shared<eot::PointCloud<double>>(uniform_matrix(n, 2, 1), uniform_matrix(n, 2, 2)),
      0.01);
  const eot::DomainChoice cloud = eot::choose_domain(big);
  CHECK(cloud.domain == eot::Domain::Log);
  CHECK(cloud.reason ==
        "log domain, nothing stored (K would take 3.2 GB, over the kernel "
        "budget of 268 MB)");
  const eot::Problem<double> small = dense_problem(uniform_matrix(300, 200, 3), 0.1);
  const eot::DomainChoice dense = eot::choose_domain(small);
  CHECK(dense.domain == eot::Domain::Kernel);
  CHECK(dense.kernel_bytes == 300 * 200 * 8);
  CHECK(dense.reason == "kernel domain, K takes 480 kB");
  eot::Problem<double> one_sided = small;
  one_sided.rho_b = 0;
  CHECK(eot::choose_domain(one_sided).domain == eot::Domain::Log);

  // With a limit: K must fit beside the costs (480 kB each).
  eot::SolverOptions o;
  o.memory_limit = 900000;
  CHECK(eot::choose_domain(small, o).domain == eot::Domain::Log);
  o.memory_limit = 1000000;
  CHECK(eot::choose_domain(small, o).domain == eot::Domain::Kernel);
  o.memory_limit = 900000;
  o.domain = eot::Domain::Kernel;
  CHECK(message_of<eot::InvalidArgument>([&] { eot::solve(small, o); }) ==
        "the kernel-domain solver's kernel (300 x 200) needs 480 kB but 420 kB are left within "
        "the memory limit of 900 kB beside the 480 kB already held; use the log domain "
        "(Domain::Log), or raise the memory limit");
  o.domain = eot::Domain::Auto;
  const eot::Result r = eot::solve(small, o);
  CHECK(r.converged());
  CHECK(r.domain == eot::Domain::Log);
  CHECK(r.kernel_bytes == 0);
  o.memory_limit = 0;
  const eot::Result k = eot::solve(small, o);
  CHECK(k.domain == eot::Domain::Kernel);
  CHECK(k.kernel_bytes == 480000);
  CHECK(contains(k.full_report(), "kernel domain (K 480 kB, 1 absorption)"));
}
