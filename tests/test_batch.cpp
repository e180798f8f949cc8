// Batched solves: every result is bitwise the one a solve alone returns, whatever the threads.
#include <doctest/doctest.h>

#include <atomic>

#include "helpers.hpp"

using namespace test;

namespace {

// Every field a solve reports, compared exactly (the time aside).
void check_identical(const eot::Result& batch, const eot::Result& alone) {
  CHECK(batch.status == alone.status);
  CHECK(batch.iterations == alone.iterations);
  CHECK(batch.newton_steps == alone.newton_steps);
  CHECK(batch.domain == alone.domain);
  CHECK(batch.f == alone.f);
  CHECK(batch.g == alone.g);
  CHECK(batch.row_marginal == alone.row_marginal);
  CHECK(batch.col_marginal == alone.col_marginal);
  CHECK(batch.marginal_error == alone.marginal_error);
  CHECK(batch.primal == alone.primal);
  CHECK(batch.dual == alone.dual);
  CHECK(batch.transport_cost == alone.transport_cost);
}

template <typename T>
std::vector<eot::Problem<T>> mixed_batch() {
  std::vector<eot::Problem<T>> problems;
  for (unsigned k = 0; k < 6; ++k) {  // dense, of several shapes, regimes and epsilons
    const Index n = 5 + 7 * k, m = 40 - 3 * k;
    eot::Problem<T> p = dense_problem<T>(uniform_matrix(n, m, 700 + k), 0.02 + 0.03 * k);
    p.a = weights(n, 710 + k).cast<T>();
    p.b = weights(m, 720 + k).cast<T>();
    if (k % 3 == 1) p.rho_a = p.rho_b = 0.5;  // unbalanced
    if (k % 3 == 2) p.rho_b = 0;              // one-sided
    problems.push_back(p);
  }
  // Point clouds, one of them larger than kBatchOneThreadEntries: solved on all the threads.
  for (Index n : {Index(50), Index(700)}) {
    const auto cloud = std::make_shared<eot::PointCloud<T>>(
        uniform_matrix(n, 3, 730 + unsigned(n)).cast<T>(),
        uniform_matrix(n, 3, 740 + unsigned(n)).cast<T>(), eot::Metric::SqEuclidean);
    problems.emplace_back(cloud, 0.1);
  }
  REQUIRE(problems.back().n() * problems.back().m() > eot::kBatchOneThreadEntries);
  return problems;
}

}  // namespace

TEST_CASE_TEMPLATE("solve_batched returns what each solve returns alone, for any thread count", T,
                   double, float) {
  const std::vector<eot::Problem<T>> problems = mixed_batch<T>();
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    eot::SolverOptions options;
    options.threads = threads;
    const std::vector<eot::Result> results = eot::solve_batched(problems, options);
    REQUIRE(results.size() == problems.size());
    for (std::size_t k = 0; k < problems.size(); ++k) {
      CAPTURE(k);
      eot::SolverOptions other = options;
      other.threads = 4 - threads;  // alone, on another thread count
      const eot::Result alone = eot::solve(problems[k], other);
      CHECK(alone.converged());
      check_identical(results[k], alone);
    }
  }
}

TEST_CASE("solve_batched validates every problem first and names the one at fault") {
  std::vector<eot::Problem<double>> problems;
  for (unsigned k = 0; k < 3; ++k) problems.push_back(dense_problem(uniform_matrix(4, 4, k), 0.1));
  problems[2].b(1) = -1;
  try {
    eot::solve_batched(problems);
    FAIL("no exception");
  } catch (const eot::InvalidArgument& e) {
    CHECK(std::string(e.what()).rfind("problem 2: b(1) is -1", 0) == 0);
    CHECK(e.field() == "b");
    CHECK(e.index() == 1);
  }
  eot::SolverOptions options;
  options.threads = -1;
  CHECK(contains(message_of<eot::InvalidArgument>([&] { eot::solve_batched(problems, options); }),
                 "options.threads is -1"));
  CHECK(eot::solve_batched(std::vector<eot::Problem<double>>{}).empty());
}

TEST_CASE("an interrupt stops every problem of a batch") {
  const std::vector<eot::Problem<double>> problems = mixed_batch<double>();
  const std::atomic<bool> interrupt{true};
  eot::SolverOptions options;
  options.interrupt = &interrupt;
  for (const eot::Result& r : eot::solve_batched(problems, options))
    CHECK(r.status == eot::Status::Interrupted);
}
