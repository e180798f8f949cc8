// eot solve: one entropic OT problem from files.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "eot/io.hpp"

namespace eot::cli {

namespace {

struct SolveArgs {
  std::string cost, x, y, metric = "sqeuclidean", a, b;
  double epsilon = 0;
  double rho_a = kInf, rho_b = kInf;
  std::string precision = "double";
  SolverOptions options;
  bool json = false, quiet = false;
  std::string plan, potentials, marginals;
};

// A weights file: the right length, finite, non-negative, positive total.
Eigen::VectorXd read_weights(const std::string& file, Index size, const std::string& owner,
                             const char* unit) {
  Eigen::VectorXd w = io::read_vector(file);
  if (w.size() != size) {
    bad_input(owner + " has " + std::to_string(size) + " " + unit + " but " + file + " has " +
              std::to_string(w.size()) + " entries");
  }
  for (Index i = 0; i < w.size(); ++i) {
    if (std::isnan(w[i]) || std::isinf(w[i]))
      bad_input(file + ": entry " + std::to_string(i) + " is " + number(w[i]) +
                "; weights must be finite");
    if (w[i] < 0)
      bad_input(file + ": entry " + std::to_string(i) + " is negative (" + number(w[i]) + ")");
  }
  if (w.sum() <= 0) bad_input(file + ": the weights sum to 0; at least one must be positive");
  return w;
}

template <typename T>
std::shared_ptr<const Geometry<T>> read_geometry(const SolveArgs& args) {
  if (!args.cost.empty()) {
    const Matrix<T> cost = to_precision<T>(args.cost, io::read_matrix(args.cost));
    try {
      return std::make_shared<CostMatrix<T>>(cost);
    } catch (const InvalidArgument& e) {
      bad_input(args.cost + ": " + e.what());
    }
  }
  const Matrix<T> x = to_precision<T>(args.x, io::read_matrix(args.x));
  const Matrix<T> y = to_precision<T>(args.y, io::read_matrix(args.y));
  if (x.cols() != y.cols()) {
    bad_input(args.x + " has " + std::to_string(x.cols()) + " columns but " + args.y + " has " +
              std::to_string(y.cols()) + " (points need the same dimension)");
  }
  try {
    return std::make_shared<PointCloud<T>>(x, y, metric_from_string(args.metric));
  } catch (const InvalidArgument& e) {
    // The library names the cloud ("x(3, 1) is inf: ..."); name its file too.
    bad_input((e.what()[0] == 'y' ? args.y : args.x) + ": " + e.what());
  }
}

// Progress on stderr (a terminal only): epsilon stage, iteration, marginal error.
IterationCallback progress_printer(bool enabled, bool& printed) {
  if (!enabled) return {};
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [last, &printed](const IterationInfo& info) {
    const auto now = std::chrono::steady_clock::now();
    if (now - *last > std::chrono::milliseconds(100)) {
      *last = now;
      printed = true;
      std::fprintf(stderr, "\reot: stage %d/%d, epsilon %.3g, iteration %d, marginal error %.3e   ",
                   info.stage + 1, info.stages, info.epsilon, info.iteration, info.marginal_error);
      std::fflush(stderr);
    }
    return CallbackAction::Continue;
  };
}

nlohmann::ordered_json to_json(const Result& r) {
  auto rho = [](double value) -> nlohmann::ordered_json {
    if (value == kInf) return "inf";
    return value;
  };
  nlohmann::ordered_json history = nlohmann::ordered_json::array();
  for (const Check& check : r.history) {
    history.push_back({{"iteration", check.iteration},
                       {"epsilon", check.epsilon},
                       {"marginal_error", check.marginal_error}});
  }
  return {{"status", to_string(r.status)},
          {"message", r.message},
          {"iterations", r.iterations},
          {"n", r.n},
          {"m", r.m},
          {"epsilon", r.epsilon},
          {"rho_a", rho(r.rho_a)},
          {"rho_b", rho(r.rho_b)},
          {"regime", r.regime},
          {"geometry", r.geometry},
          {"precision", r.precision},
          {"tolerance", r.tolerance},
          {"stages", r.stages},
          {"transport_cost", r.transport_cost},
          {"primal", r.primal},
          {"dual", r.dual},
          {"gap", r.gap},
          {"entropy", r.entropy},
          {"mass", r.mass},
          {"marginal_error", r.marginal_error},
          {"solve_time_seconds", r.solve_time_seconds},
          {"history", history},
          {"version", kVersion}};
}

Eigen::VectorXd concatenate(const Eigen::VectorXd& first, const Eigen::VectorXd& second) {
  Eigen::VectorXd both(first.size() + second.size());
  both << first, second;
  return both;
}

template <typename T>
int solve(const SolveArgs& args) {
  Problem<T> problem(read_geometry<T>(args), args.epsilon);
  const std::string owner = args.cost.empty() ? args.x : args.cost;
  if (!args.a.empty()) {
    problem.a = read_weights(args.a, problem.n(), owner, args.cost.empty() ? "points" : "rows")
                    .template cast<T>();
  }
  const std::string owner_b = args.cost.empty() ? args.y : args.cost;
  if (!args.b.empty()) {
    problem.b = read_weights(args.b, problem.m(), owner_b, args.cost.empty() ? "points" : "columns")
                    .template cast<T>();
  }
  problem.rho_a = args.rho_a;
  problem.rho_b = args.rho_b;
  if (args.rho_a == kInf && args.rho_b == kInf) {
    const double mass_a = problem.a.template cast<double>().sum(),
                 mass_b = problem.b.template cast<double>().sum();
    if (std::abs(mass_a - mass_b) >
        effective_tolerance<T>(args.options) * std::max(mass_a, mass_b)) {
      bad_input("balanced problem needs equal masses: sum(a) = " + number(mass_a) + ", sum(b) = " +
                number(mass_b) + " (normalize them, or relax a side with --rho-a/--rho-b)");
    }
  }

  SolverOptions options = args.options;
  bool printed = false;
  options.callback = progress_printer(!args.quiet && !args.json && isatty(STDERR_FILENO), printed);
  const Result result = solve(problem, options);
  if (printed) std::fputc('\n', stderr);

  if (!args.plan.empty())
    io::write_matrix(
        args.plan, problem.plan(result.f, result.g, args.options.threads).template cast<double>());
  if (!args.potentials.empty()) io::write_vector(args.potentials, concatenate(result.f, result.g));
  if (!args.marginals.empty())
    io::write_vector(args.marginals, concatenate(result.row_marginal, result.col_marginal));

  if (args.json) {
    std::cout << to_json(result).dump(2) << "\n";
  } else {
    std::cout << result.full_report();
  }
  return result.converged() ? kConverged : kNotConverged;
}

void add_solve_options(CLI::App& app, SolveArgs& args) {
  CLI::Option* cost =
      app.add_option("--cost", args.cost, "cost matrix (n x m; inf = forbidden pair)");
  CLI::Option* x = app.add_option("--x", args.x, "points of the rows (n x d)");
  CLI::Option* y = app.add_option("--y", args.y, "points of the columns (m x d)");
  x->needs(y);
  y->needs(x);
  cost->excludes(x)->excludes(y);
  app.add_option("--metric", args.metric,
                 "cost of point clouds: sqeuclidean (|x - y|^2), euclidean, negdot (-<x, y>)")
      ->check(CLI::IsMember({"sqeuclidean", "euclidean", "negdot"}))
      ->capture_default_str();
  app.add_option("--a", args.a, "row weights (n; default uniform, mass 1)");
  app.add_option("--b", args.b, "column weights (m; default uniform, mass 1)");
  app.add_option("--epsilon,--reg", args.epsilon, "entropic regularization, > 0")->required();
  app.add_option("--rho-a", args.rho_a, "row marginal penalty: inf = hard (default), 0 = free");
  app.add_option("--rho-b", args.rho_b,
                 "column marginal penalty: inf = hard (default), 0 = free (one-sided)");
  app.add_option("--tolerance", args.options.tolerance,
                 "marginal error relative to the mass (default 1e-9 double, 1e-5 float)");
  app.add_option("--max-iterations", args.options.max_iterations, "iteration budget")
      ->capture_default_str();
  app.add_option("--check-every", args.options.check_every, "iterations between convergence checks")
      ->capture_default_str();
  app.add_option("--threads", args.options.threads, "OpenMP threads (0 = OpenMP's default)");
  app.add_option("--precision", args.precision, "float or double")
      ->check(CLI::IsMember({"float", "double"}))
      ->capture_default_str();
  app.add_flag("--epsilon-scaling", args.options.epsilon_scaling.enabled,
               "anneal epsilon down from the cost range");
  app.add_option("--scaling-factor", args.options.epsilon_scaling.factor,
                 "epsilon ratio between stages, in (0, 1)")
      ->capture_default_str();
  app.add_option("--initial-epsilon", args.options.epsilon_scaling.initial_epsilon,
                 "first stage's epsilon (0 = the cost range)");
  app.add_option("--stage-iterations", args.options.epsilon_scaling.iterations_per_stage,
                 "iterations per scaling stage")
      ->capture_default_str();
  app.add_flag("--json", args.json, "print one JSON object on stdout instead of the report");
  app.add_flag("--quiet", args.quiet, "no progress on stderr");
  app.add_option("--plan", args.plan, "write the plan (n x m)");
  app.add_option("--potentials", args.potentials, "write f then g (n + m values)");
  app.add_option("--marginals", args.marginals, "write P 1 then P^T 1 (n + m values)");
}

}  // namespace

void add_solve_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<SolveArgs>();
  CLI::App* command = app.add_subcommand("solve", "Solve an entropic OT problem from files");
  command->footer(kExitCodes);
  add_solve_options(*command, *args);
  command->callback([args, &run] {
    if (args->cost.empty() && args->x.empty()) throw CLI::RequiredError("--cost or --x/--y");
    run = [args] {
      return args->precision == "float" ? solve<float>(*args) : solve<double>(*args);
    };
  });
}

}  // namespace eot::cli
