// eot bench: how close the hot kernels run to this machine's limits. It measures the limits
// itself (exp throughput, read bandwidth), then the time per Sinkhorn iteration against them,
// and the iterations and time to the tolerance on fixed problems. Prints one table per part.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

#include "common.hpp"
#include "detail/pages.hpp"
#include "kernels/kernels.hpp"

namespace eot::cli {

namespace {

// The machine's limits for one thread count.
struct Floor {
  double exp_ns[2];  // [float, double] ns per exp, all threads together
  double read_gbs;   // GB/s
};

// On 1 thread and on `team` threads.
struct Floors {
  int team;
  Floor one, many;
  const Floor& at(int threads) const { return threads == 1 ? one : many; }
};

// The machine's limits are the best of this many timings: on a shared machine a neighbour's
// burst slows some of them, and a limit is what the machine can do, not what it did on average.
constexpr int kFloorRepeats = 20;

// Nanoseconds per exp (all threads at work): the kernels' exp over an array in cache.
template <typename T>
double exp_ns(int threads) {
  constexpr Index kSize = 4096, kRounds = 4000;
  const kernels::Table<T>& kernels = kernels::table<T>();
  std::vector<double> totals(threads);
  const double seconds = best_seconds(kFloorRepeats, [&] {
    parallel_for(threads, threads, [&](Index t) {
      Eigen::Array<T, Eigen::Dynamic, 1> z =
          Eigen::Array<T, Eigen::Dynamic, 1>::LinSpaced(kSize, -30, 0);
      Eigen::Array<T, Eigen::Dynamic, 1> e(kSize),
          sum = Eigen::Array<T, Eigen::Dynamic, 1>::Zero(kSize);
      for (Index r = 0; r < kRounds; ++r) {
        kernels.exp(z.data(), e.data(), kSize);
        sum += e;
      }
      totals[t] += double(sum.sum());
    });
  });
  if (totals[0] == 0) std::printf(" ");  // keeps the loop alive
  return seconds * 1e9 / (double(kSize) * kRounds * threads);
}

// Read bandwidth in GB/s: sums of an array of `bytes` (at least 64 KB a part), in parts
// shared among the threads, repeated until each timing reads 256 MB. Over 512 MB it is the
// memory's; over a smaller array it may be a cache's, which is then the floor for data of that
// size (a stored kernel of 2 MB is read from the caches, not from memory).
// The array sits in memory as a stored kernel does (lib/detail/pages.hpp).
double read_gbs(int threads, double bytes = 512e6) {
  const Index parts = 4 * Index(threads);
  const Index part = std::max<Index>(Index(bytes / sizeof(double)) / parts, 8192);
  const std::size_t size = std::size_t(detail::pages_size(double(parts * part) * sizeof(double)));
  const std::unique_ptr<double[], void (*)(void*)> memory(
      static_cast<double*>(detail::allocate_pages(size)), &std::free);
  Eigen::Map<Eigen::VectorXd> data(memory.get(), parts * part);
  data.setRandom();
  const double total = double(data.size()) * sizeof(double);
  const int rounds = int(std::max(1.0, std::ceil(256e6 / total)));
  Eigen::VectorXd sums = Eigen::VectorXd::Zero(parts);
  const kernels::Table<double>& kernels = kernels::table<double>();
  const double seconds = best_seconds(kFloorRepeats, [&] {
    for (int r = 0; r < rounds; ++r) {
      parallel_for(parts, threads,
                   [&](Index k) { sums[k] += kernels.sum(data.data() + k * part, part); });
    }
  });
  if (sums.sum() == 0) std::printf(" ");
  return total * rounds / seconds / 1e9;
}

// The largest error of the kernels' exp, in units in the last place, against std::exp in long
// double, over arguments in [lo, 0] where results are normal.
template <typename T>
double exp_ulp(T lo) {
  const Index size = 1 << 20;
  const Eigen::Array<T, Eigen::Dynamic, 1> z =
      Eigen::Array<T, Eigen::Dynamic, 1>::LinSpaced(size, lo, 0);
  Eigen::Array<T, Eigen::Dynamic, 1> e(size);
  kernels::table<T>().exp(z.data(), e.data(), size);
  double worst = 0;
  for (Index k = 0; k < size; ++k) {
    const long double exact = std::exp(static_cast<long double>(z[k]));
    const T rounded = T(exact);
    const double ulp = double(std::nextafter(rounded, std::numeric_limits<T>::max()) - rounded);
    worst = std::max(worst, double(std::abs(static_cast<long double>(e[k]) - exact)) / ulp);
  }
  return worst;
}

Floors measure_floors(int team) {
  Floors f{team, {}, {}};
  for (Floor* floor : {&f.one, &f.many}) {
    const int threads = floor == &f.one ? 1 : team;
    floor->exp_ns[0] = exp_ns<float>(threads);
    floor->exp_ns[1] = exp_ns<double>(threads);
    floor->read_gbs = read_gbs(threads);
  }
  std::printf("\nMachine limits (measured here; best of %d)\n", kFloorRepeats);
  std::printf("  %-36s %12s %9d threads\n", "", "1 thread", team);
  std::printf("  %-36s %12.3f %17.3f\n", "exp, double (ns per value, all threads)", f.one.exp_ns[1],
              f.many.exp_ns[1]);
  std::printf("  %-36s %12.3f %17.3f\n", "exp, float", f.one.exp_ns[0], f.many.exp_ns[0]);
  std::printf("  %-36s %12.1f %17.1f\n", "read bandwidth (GB/s)", f.one.read_gbs, f.many.read_gbs);
  std::printf(
      "  exp accuracy (max error vs long double): double %.2f ulp on [-708, 0], float %.2f "
      "ulp on [-87, 0]\n",
      exp_ulp<double>(-708), exp_ulp<float>(-87));
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
// (the first log-domain iteration, the first absorption) and the final values cancel out.
template <typename T>
double per_iteration(const Problem<T>& problem, Domain domain, int threads, int k) {
  auto run = [&](int iterations) {
    SolverOptions o;
    o.threads = threads;
    o.max_iterations = iterations;
    o.check_every = 1 << 30;
    o.acceleration.enabled = false;
    o.domain = domain;
    return best_seconds(2, [&] { solve(problem, o); });
  };
  return (run(2 * k) - run(k)) / k;
}

// The floor of one iteration (two passes): in the log domain, one exp per cost and pass and,
// for a dense cost, reading it; in the kernel domain, reading the stored kernel. Reads are
// timed on an array of the same size (in cache if it fits there).
template <typename T>
double floor_seconds(const Problem<T>& problem, Domain domain, bool dense, const Floors& f,
                     int threads) {
  const double nm = double(problem.n()) * double(problem.m());
  const double read = dense || domain == Domain::Kernel
                          ? 2 * nm * sizeof(T) / (read_gbs(threads, nm * sizeof(T)) * 1e9)
                          : 0.0;
  if (domain == Domain::Kernel) return read;
  return std::max(2 * nm * f.at(threads).exp_ns[std::is_same_v<T, double>] * 1e-9, read);
}

template <typename T>
void iteration_row(const char* name, std::shared_ptr<const Geometry<T>> geometry, Domain domain,
                   const Floors& f, int k) {
  const Problem<T> problem(geometry, 0.01);
  const bool dense = dynamic_cast<const CostMatrix<T>*>(geometry.get()) != nullptr;
  double t[2];
  for (int threads : {1, f.team}) {
    // A kernel-domain iteration is short next to the setup (the absorption): more of them.
    double& time = t[threads == 1 ? 0 : 1];
    time = per_iteration(problem, domain, threads, domain == Domain::Kernel ? 5 * k : k);
    const double floor = floor_seconds(problem, domain, dense, f, threads);
    std::printf("  %-24s %-7s %8d %12.2f %12.2f %8.2f\n", name, to_string(domain), threads,
                time * 1e3, floor * 1e3, time / floor);
  }
  if (f.team > 1) {
    std::printf("  %-24s %-7s %8s %12s %12s %8s   %d threads: %.2fx faster\n", "", "", "", "", "",
                "", f.team, t[0] / t[1]);
  }
}

void time_to_tolerance(Index n, double epsilon, int threads) {
  const Problem<double> problem(std::make_shared<CostMatrix<double>>(scaled_cost(n)), epsilon);
  struct Method {
    const char* name;
    bool accelerated;
    Domain domain;
  };
  for (const Method& m :
       {Method{"log, plain", false, Domain::Log}, Method{"log, over-relaxed", true, Domain::Log},
        Method{"kernel, over-relaxed", true, Domain::Auto}}) {
    SolverOptions o;
    o.threads = threads;
    o.max_iterations = 100000;
    o.acceleration.enabled = m.accelerated;
    o.domain = m.domain;
    const Result r = solve(problem, o);
    std::printf("  %6lld %8g %-22s %-10s %10d %8.3f %6d %10.4f %.12g\n", static_cast<long long>(n),
                epsilon, m.name, to_string(r.status), r.iterations, r.omega, r.absorptions,
                r.solve_time_seconds, r.transport_cost);
  }
}

// Time per iteration against n (double, `threads` threads), with its floor: what
// tools/plot_scaling.py draws.
void scaling(const Floors& f, int threads, bool quick) {
  std::printf("\nTime per iteration against n, double, %d threads (epsilon 0.01)\n", threads);
  std::printf("  %-12s %8s %12s %12s %8s\n", "problem", "n", "ms/iter", "floor ms", "ratio");
  const std::vector<Index> dense_sizes =
      quick ? std::vector<Index>{250, 500} : std::vector<Index>{250, 500, 1000, 2000, 4000, 8000};
  const std::vector<Index> cloud_sizes =
      quick ? std::vector<Index>{250, 500}
            : std::vector<Index>{250, 500, 1000, 2000, 4000, 8000, 16000, 32000};
  auto row = [&](const char* name, const Problem<double>& problem, Domain domain, bool dense) {
    // About 4e8 costs per timed stretch; kernel-domain iterations are cheap next to their
    // setup (absorbing K), so 5 times as many of them.
    const int k = std::max(2, int(4e8 / (double(problem.n()) * double(problem.n()))));
    const double t =
        per_iteration(problem, domain, threads,
                      domain == Domain::Kernel ? std::min(5 * k, 100) : std::min(k, 20));
    // A shared machine's pace drifts (by a quarter over minutes here): the exp floor is measured
    // again beside each row, as the read floor is.
    Floors now = f;
    (threads == 1 ? now.one : now.many).exp_ns[1] = exp_ns<double>(threads);
    const double floor = floor_seconds(problem, domain, dense, now, threads);
    std::printf("  %-12s %8lld %12.4f %12.4f %8.2f\n", name, static_cast<long long>(problem.n()),
                t * 1e3, floor * 1e3, t / floor);
  };
  for (Index n : dense_sizes) {
    const Problem<double> problem(std::make_shared<CostMatrix<double>>(scaled_cost(n)), 0.01);
    row("dense-log", problem, Domain::Log, true);
    row("dense-kernel", problem, Domain::Kernel, true);
  }
  for (Index n : cloud_sizes) {
    const Problem<double> problem(
        std::make_shared<PointCloud<double>>(uniform_points(n, 1), uniform_points(n, 2)), 0.01);
    row("cloud-log", problem, Domain::Log, false);
  }
}

int bench(Index n, bool quick, bool scaling_only, int threads) {
  threads = thread_count(threads);
  std::printf(
      "eot bench: kernels for %s (EOT_ISA to lower), %d CPUs for this process, %d threads\n",
      instruction_set(), thread_count(0), threads);
  const Floors f = measure_floors(threads);
  if (scaling_only) {
    scaling(f, threads, quick);
    return 0;
  }

  std::printf(
      "\nTime per Sinkhorn iteration, n = m = %lld (2 passes; floor: log = max(exp, read the "
      "costs), kernel = read the kernel; reads timed on an array of that size)\n",
      static_cast<long long>(n));
  std::printf("  %-24s %-7s %8s %12s %12s %8s\n", "problem", "domain", "threads", "ms/iter",
              "floor ms", "ratio");
  const int k = 10;
  const Matrix<double> cost = scaled_cost(n);
  const auto dense_double = std::make_shared<CostMatrix<double>>(cost);
  const auto dense_float = std::make_shared<CostMatrix<float>>(cost.cast<float>());
  for (Domain domain : {Domain::Log, Domain::Kernel}) {
    iteration_row<double>("dense, double", dense_double, domain, f, k);
    iteration_row<float>("dense, float", dense_float, domain, f, k);
  }
  const Matrix<double> x = uniform_points(n, 1), y = uniform_points(n, 2);
  iteration_row<double>("point cloud 2-D, double", std::make_shared<PointCloud<double>>(x, y),
                        Domain::Log, f, k);
  iteration_row<float>("point cloud 2-D, float",
                       std::make_shared<PointCloud<float>>(x.cast<float>(), y.cast<float>()),
                       Domain::Log, f, k);

  std::printf(
      "\nIterations and time to the tolerance (1e-9 x mass, L1 marginal error), dense "
      "double, %d threads\n",
      threads);
  std::printf("  %6s %8s %-22s %-10s %10s %8s %6s %10s %s\n", "n", "epsilon", "method", "status",
              "iterations", "omega", "absorb", "seconds", "<P, C>");
  for (Index size : quick ? std::vector<Index>{500} : std::vector<Index>{1000, 2000}) {
    for (double epsilon : {0.01, 0.001}) time_to_tolerance(size, epsilon, threads);
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, Runner& run) {
  auto n = std::make_shared<Index>(4000);
  auto quick = std::make_shared<bool>(false);
  auto scaling_only = std::make_shared<bool>(false);
  auto threads = std::make_shared<int>(0);
  CLI::App* command =
      app.add_subcommand("bench", "Measure this machine's limits and the solver against them");
  command->add_option("--n", *n, "problem size for the per-iteration table")->capture_default_str();
  command
      ->add_option(
          "--threads", *threads,
          "threads for the second column and the time-to-tolerance and scaling tables (0 = every "
          "CPU this process may use)")
      ->capture_default_str();
  command->add_flag("--scaling", *scaling_only,
                    "only the time per iteration against n (tools/plot_scaling.py plots it)");
  command->add_flag("--quick", *quick, "small problems, few repeats (a smoke test)");
  command->callback(
      [=, &run] { run = [=] { return bench(*n, *quick, *scaling_only, *threads); }; });
}

}  // namespace eot::cli
