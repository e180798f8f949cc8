// eot bench: how close the hot kernels run to this machine's limits. It measures the limits
// itself (exp throughput, read bandwidth), then the time per Sinkhorn iteration against them,
// and the iterations and time to the tolerance on fixed problems. Prints one table per part.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <random>

#include "common.hpp"

namespace eot::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The best of `repeats` timings of f(): the least disturbed by other processes.
template <typename F>
double best_time(int repeats, F&& f) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    f();
    best = std::min(best, seconds_since(start));
  }
  return best;
}

struct Floors {
  double exp_ns[2][3];  // [float, double][threads] ns per exp, all threads together
  double read_gbs[3];   // [threads] GB/s
};

// Nanoseconds per exp (all threads at work): Eigen's vectorized exp over an array in cache,
// as the kernels call it.
template <typename T>
double exp_ns(int threads) {
  constexpr Index kSize = 4096, kRounds = 4000;
  double total = 0;
  const double seconds = best_time(3, [&] {
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      Eigen::Array<T, Eigen::Dynamic, 1> z =
          Eigen::Array<T, Eigen::Dynamic, 1>::LinSpaced(kSize, -30, 0);
      Eigen::Array<T, Eigen::Dynamic, 1> sum = Eigen::Array<T, Eigen::Dynamic, 1>::Zero(kSize);
      for (Index r = 0; r < kRounds; ++r) sum += (z - T(r % 3)).exp();
      total += double(sum.sum());
    }
  });
  if (total == 0) std::printf(" ");  // keeps the loop alive
  return seconds * 1e9 / (double(kSize) * kRounds * threads);
}

// Read bandwidth in GB/s: sums of a 512 MB array, split among the threads.
double read_gbs(int threads) {
  static const Eigen::VectorXd data = Eigen::VectorXd::Random(Index(64) << 20);
  double total = 0;
  const double seconds = best_time(3, [&] {
    double sum = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : sum) schedule(static)
    for (Index block = 0; block < 64; ++block)
      sum += data.segment(block << 20, Index(1) << 20).sum();
    total += sum;
  });
  if (total == 0) std::printf(" ");
  return double(data.size()) * sizeof(double) / seconds / 1e9;
}

Floors measure_floors() {
  Floors f;
  for (int t : {1, 2}) {
    f.exp_ns[0][t] = exp_ns<float>(t);
    f.exp_ns[1][t] = exp_ns<double>(t);
    f.read_gbs[t] = read_gbs(t);
  }
  std::printf("\nMachine limits (measured here; best of 3)\n");
  std::printf("  %-36s %12s %12s\n", "", "1 thread", "2 threads");
  std::printf("  %-36s %12.3f %12.3f\n", "exp, double (ns per value, all threads)", f.exp_ns[1][1],
              f.exp_ns[1][2]);
  std::printf("  %-36s %12.3f %12.3f\n", "exp, float", f.exp_ns[0][1], f.exp_ns[0][2]);
  std::printf("  %-36s %12.1f %12.1f\n", "read bandwidth (GB/s)", f.read_gbs[1], f.read_gbs[2]);
  return f;
}

Matrix<double> uniform_points(Index n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Matrix<double> x(n, 2);
  for (Index k = 0; k < x.size(); ++k) x.data()[k] = u(rng);
  return x;
}

// The benchmark problems: 2-D uniform points, squared Euclidean cost scaled to max 1 (as in
// the POT comparison, tools/bench_pot.py), uniform weights.
Matrix<double> scaled_cost(Index n) {
  const Matrix<double> x = uniform_points(n, 1), y = uniform_points(n, 2);
  Matrix<double> c =
      (x.rowwise().squaredNorm() * Eigen::RowVectorXd::Ones(n) +
       Eigen::VectorXd::Ones(n) * y.rowwise().squaredNorm().transpose() - 2 * x * y.transpose())
          .cwiseMax(0);
  return c / c.maxCoeff();
}

// Seconds per iteration: the difference between solves of k and 2k iterations, so the setup
// and the final values cancel out.
template <typename T>
double per_iteration(const Problem<T>& problem, int threads, int k) {
  auto run = [&](int iterations) {
    SolverOptions o;
    o.threads = threads;
    o.max_iterations = iterations;
    o.check_every = 1 << 30;
    o.acceleration.enabled = false;
    return best_time(2, [&] { solve(problem, o); });
  };
  return (run(2 * k) - run(k)) / k;
}

template <typename T>
void iteration_row(const char* name, std::shared_ptr<const Geometry<T>> geometry, const Floors& f,
                   bool dense, int k) {
  const Problem<T> problem(geometry, 0.01);
  const double nm = double(problem.n()) * double(problem.m());
  double t[3];
  for (int threads : {1, 2}) {
    t[threads] = per_iteration(problem, threads, k);
    // Two passes over the costs, one exp per cost each; a dense pass also reads the costs.
    const double exp_floor = 2 * nm * f.exp_ns[std::is_same_v<T, double>][threads] * 1e-9;
    const double read_floor = dense ? 2 * nm * sizeof(T) / (f.read_gbs[threads] * 1e9) : 0;
    const double floor = std::max(exp_floor, read_floor);
    std::printf("  %-30s %8d %12.2f %12.2f %8.2f\n", name, threads, t[threads] * 1e3, floor * 1e3,
                t[threads] / floor);
  }
  std::printf("  %-30s %8s %12s %12s %8s   2 threads: %.2fx faster\n", "", "", "", "", "",
              t[1] / t[2]);
}

void time_to_tolerance(Index n, double epsilon, int threads) {
  const Problem<double> problem(std::make_shared<CostMatrix<double>>(scaled_cost(n)), epsilon);
  for (bool accelerated : {false, true}) {
    SolverOptions o;
    o.threads = threads;
    o.max_iterations = 100000;
    o.acceleration.enabled = accelerated;
    const Result r = solve(problem, o);
    std::printf("  %6lld %8g %-14s %-10s %10d %8.3f %10.4f %.12g\n", static_cast<long long>(n),
                epsilon, accelerated ? "over-relaxed" : "plain", to_string(r.status), r.iterations,
                r.omega, r.solve_time_seconds, r.transport_cost);
  }
}

int bench(Index n, bool quick, int threads) {
  std::printf("eot bench: %d OpenMP threads available, Eigen SIMD: %s\n", omp_get_max_threads(),
              Eigen::SimdInstructionSetsInUse());
  const Floors f = measure_floors();

  std::printf(
      "\nTime per Sinkhorn iteration, n = m = %lld (2 passes over the costs; floor = "
      "max(exp, read))\n",
      static_cast<long long>(n));
  std::printf("  %-30s %8s %12s %12s %8s\n", "problem", "threads", "ms/iter", "floor ms", "ratio");
  const int k = quick ? 3 : 10;
  const Matrix<double> cost = scaled_cost(n);
  iteration_row<double>("dense, double", std::make_shared<CostMatrix<double>>(cost), f, true, k);
  iteration_row<float>("dense, float", std::make_shared<CostMatrix<float>>(cost.cast<float>()), f,
                       true, k);
  const Matrix<double> x = uniform_points(n, 1), y = uniform_points(n, 2);
  iteration_row<double>("point cloud 2-D, double", std::make_shared<PointCloud<double>>(x, y), f,
                        false, k);
  iteration_row<float>("point cloud 2-D, float",
                       std::make_shared<PointCloud<float>>(x.cast<float>(), y.cast<float>()), f,
                       false, k);

  std::printf(
      "\nIterations and time to the tolerance (1e-9 x mass, L1 marginal error), dense "
      "double, %d threads\n",
      threads);
  std::printf("  %6s %8s %-14s %-10s %10s %8s %10s %s\n", "n", "epsilon", "method", "status",
              "iterations", "omega", "seconds", "<P, C>");
  for (Index size : quick ? std::vector<Index>{500} : std::vector<Index>{1000, 2000}) {
    for (double epsilon : {0.01, 0.001}) time_to_tolerance(size, epsilon, threads);
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, Runner& run) {
  auto n = std::make_shared<Index>(4000);
  auto quick = std::make_shared<bool>(false);
  auto threads = std::make_shared<int>(2);
  CLI::App* command =
      app.add_subcommand("bench", "Measure this machine's limits and the solver against them");
  command->add_option("--n", *n, "problem size for the per-iteration table")->capture_default_str();
  command->add_option("--threads", *threads, "threads for the time-to-tolerance table")
      ->capture_default_str();
  command->add_flag("--quick", *quick, "small problems, few repeats (a smoke test)");
  command->callback([=, &run] { run = [=] { return bench(*n, *quick, *threads); }; });
}

}  // namespace eot::cli
