#include "problem_input.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eot/io.hpp"

namespace eot::cli {

namespace {}  // namespace

[[noreturn]] void refuse_with_file(const InvalidArgument& e, const ProblemInput& args) {
  const bool clouds = args.cost.empty();
  std::vector<std::string> files;
  const std::string& field = e.field();
  if (field == "cost" || field == "x" || field == "y") {
    if (!clouds) files = {args.cost};
    if (clouds && field != "y") files.push_back(args.x);
    if (clouds && field != "x" && args.y != args.x) files.push_back(args.y);
  }
  if (field == "a" || field == "masses") files.push_back(args.a);
  if (field == "b" || field == "masses") files.push_back(args.b);
  files.erase(std::remove(files.begin(), files.end(), std::string()), files.end());
  std::string where;
  for (std::size_t k = 0; k < files.size(); ++k) where += (k == 0 ? "" : " and ") + files[k];
  bad_input(where.empty() ? e.what() : where + ": " + e.what());
}

namespace {

template <typename T>
std::shared_ptr<const Geometry<T>> read_geometry(const ProblemInput& args) {
  const std::uint64_t limit = args.options.memory_limit;
  if (!args.cost.empty()) {
    const Matrix<T> cost = to_precision<T>(args.cost, io::read_matrix(args.cost, limit));
    try {
      return std::make_shared<CostMatrix<T>>(cost);
    } catch (const InvalidArgument& e) {
      refuse_with_file(e, args);
    }
  }
  const Matrix<T> x = to_precision<T>(args.x, io::read_matrix(args.x, limit));
  const Matrix<T> y = to_precision<T>(args.y, io::read_matrix(args.y, limit));
  if (x.cols() != y.cols()) {
    bad_input(args.x + " has " + std::to_string(x.cols()) + " columns but " + args.y + " has " +
              std::to_string(y.cols()) + " (points need the same dimension)");
  }
  try {
    return std::make_shared<PointCloud<T>>(x, y, metric_from_string(args.metric));
  } catch (const InvalidArgument& e) {
    refuse_with_file(e, args);
  }
}

}  // namespace

void add_iteration_options(CLI::App& app, SolverOptions& options, std::string& precision) {
  app.add_option("--tolerance", options.tolerance,
                 "marginal error relative to the mass (default 1e-9 double, 1e-5 float)");
  app.add_option("--max-iterations", options.max_iterations, "iteration budget (of each solve)")
      ->capture_default_str();
  app.add_option("--threads", options.threads,
                 "threads, 0 to 1024 (0 = every CPU this process may use)")
      ->check(CLI::Range(0, kMaxThreads));
  app.add_option("--precision", precision, "float or double")
      ->check(CLI::IsMember({"float", "double"}))
      ->capture_default_str();
}

void add_input_options(CLI::App& app, ProblemInput& input) {
  CLI::Option* cost =
      app.add_option("--cost", input.cost, "cost matrix (n x m; inf = forbidden pair)");
  CLI::Option* x = app.add_option("--x", input.x, "points of the rows (n x d)");
  CLI::Option* y = app.add_option("--y", input.y, "points of the columns (m x d)");
  x->needs(y);
  y->needs(x);
  cost->excludes(x)->excludes(y);
  app.add_option("--metric", input.metric,
                 "cost of point clouds: sqeuclidean (|x - y|^2), euclidean, negdot (-<x, y>)")
      ->check(CLI::IsMember({"sqeuclidean", "euclidean", "negdot"}))
      ->capture_default_str();
  app.add_option("--a", input.a, "row weights (n; default uniform, mass 1)");
  app.add_option("--b", input.b, "column weights (m; default uniform, mass 1)");
  app.add_option("--memory-limit", input.memory_limit,
                 "most memory for the dense arrays (costs, kernel, plan), e.g. 400M or 2G "
                 "(default: what is available; the kernel domain then stores K only if it is "
                 "no larger than the costs or 256 MB)");
}

void add_problem_options(CLI::App& app, ProblemInput& input) {
  add_input_options(app, input);
  app.add_option("--rho-a", input.rho_a, "row marginal penalty: inf = hard (default), 0 = free");
  app.add_option("--rho-b", input.rho_b,
                 "column marginal penalty: inf = hard (default), 0 = free (one-sided)");
  add_iteration_options(app, input.options, input.precision);
  app.add_option("--check-every", input.options.check_every,
                 "iterations between convergence checks")
      ->capture_default_str();
  app.add_flag("--epsilon-scaling", input.options.epsilon_scaling.enabled,
               "anneal epsilon down from the cost range");
  app.add_option("--scaling-factor", input.options.epsilon_scaling.factor,
                 "epsilon ratio between stages, in (0, 1)")
      ->capture_default_str();
  app.add_option("--initial-epsilon", input.options.epsilon_scaling.initial_epsilon,
                 "first stage's epsilon (0 = the cost range)");
  app.add_option("--stage-iterations", input.options.epsilon_scaling.iterations_per_stage,
                 "iterations per scaling stage")
      ->capture_default_str();
  app.add_flag("!--no-acceleration", input.options.acceleration.enabled,
               "plain Sinkhorn: no over-relaxation");
  app.add_option("--omega", input.options.acceleration.omega,
                 "fixed over-relaxation in [1, 2) (default: from the measured rate)");
  std::map<std::string, Domain> domains;  // the library's names
  for (Domain domain : {Domain::Auto, Domain::Log, Domain::Kernel})
    domains[to_string(domain)] = domain;
  app.add_option("--domain", input.options.domain,
                 "where the target-epsilon passes run: auto, log (n m exps each), kernel "
                 "(a stored kernel with absorption: a matrix-vector product each)")
      ->transform(CLI::CheckedTransformer(domains))
      ->default_str("auto");
  std::map<std::string, NewtonMode> newton_modes;  // the library's names
  for (NewtonMode mode : {NewtonMode::Auto, NewtonMode::On, NewtonMode::Off})
    newton_modes[to_string(mode)] = mode;
  app.add_option("--newton", input.options.newton,
                 "Newton steps on the dual where Sinkhorn is slow: auto (when the measured "
                 "rate says more than 1000 iterations remain, 10 000 in the kernel domain, or the "
                 "error stalls), on (from "
                 "the first check), off")
      ->transform(CLI::CheckedTransformer(newton_modes))
      ->default_str("auto");
}

void require_geometry(ProblemInput& input) {
  if (input.cost.empty() && input.x.empty()) throw CLI::RequiredError("--cost or --x/--y");
  if (!input.memory_limit.empty()) {
    try {
      input.options.memory_limit = parse_bytes(input.memory_limit, "--memory-limit");
    } catch (const InvalidArgument& e) {
      throw CLI::ValidationError(e.what());
    }
  }
}

template <typename T>
Problem<T> read_inputs(const ProblemInput& args, double epsilon) {
  Problem<T> problem(read_geometry<T>(args), epsilon);
  if (!args.a.empty()) problem.a = io::read_vector(args.a).template cast<T>();
  if (!args.b.empty()) problem.b = io::read_vector(args.b).template cast<T>();
  problem.rho_a = args.rho_a;
  problem.rho_b = args.rho_b;
  return problem;
}

template <typename T>
Problem<T> read_problem(const ProblemInput& args, double epsilon) {
  Problem<T> problem = read_inputs<T>(args, epsilon);
  try {
    validate(problem, args.options);  // the library's rules, once
  } catch (const InvalidArgument& e) {
    refuse_with_file(e, args);
  }
  return problem;
}

nlohmann::ordered_json values_json(const Result& r) {
  return {{"status", to_string(r.status)},
          {"iterations", r.iterations},
          {"epsilon", r.epsilon},
          {"transport_cost", r.transport_cost},
          {"primal", r.primal},
          {"dual", r.dual},
          {"gap", r.gap},
          {"entropy", r.entropy},
          {"mass", r.mass},
          {"marginal_error", r.marginal_error},
          {"solve_time_seconds", r.solve_time_seconds}};
}

template Problem<double> read_inputs(const ProblemInput&, double);
template Problem<float> read_problem(const ProblemInput&, double);
template Problem<double> read_problem(const ProblemInput&, double);

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

}  // namespace eot::cli
