#include "problem_input.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eot/io.hpp"
#include "ranks.hpp"

namespace eot::cli {

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

std::string dimensions(const io::Array& array) {
  std::string text;
  for (Index dim : array.shape) text += (text.empty() ? "" : " x ") + std::to_string(dim);
  return text;
}

// The geometries the files hold: one, or, when the cost or a point cloud is a 3-D array (sets
// `batch`), one a layer.
template <typename T>
std::vector<std::shared_ptr<const Geometry<T>>> read_geometries(const ProblemInput& args,
                                                                bool& batch) {
  const std::uint64_t limit = args.options.memory_limit;
  std::vector<std::shared_ptr<const Geometry<T>>> geometries;
  if (!args.cost.empty()) {
    io::Array cost = io::read_array(args.cost, limit);
    batch = cost.shape.size() == 3;
    try {
      if constexpr (std::is_same_v<T, double>) {  // moved, not copied: it may be most of memory
        if (!batch) {
          geometries.push_back(std::make_shared<CostMatrix<T>>(std::move(cost.values)));
          return geometries;
        }
      }
      for (Index k = 0; k < cost.layers(); ++k)
        geometries.push_back(std::make_shared<CostMatrix<T>>(
            to_precision<T>(args.cost, cost.layer(k), batch ? k : -1)));
    } catch (const InvalidArgument& e) {
      refuse_with_file(e, args);
    }
    return geometries;
  }
  io::Array x = io::read_array(args.x, limit), y = io::read_array(args.y, limit);
  batch = x.shape.size() == 3 || y.shape.size() == 3;
  if (x.values.cols() != y.values.cols()) {
    bad_input(args.x + " has " + std::to_string(x.values.cols()) + " columns but " + args.y +
              " has " + std::to_string(y.values.cols()) + " (points need the same dimension)");
  }
  if (x.layers() > 1 && y.layers() > 1 && x.layers() != y.layers()) {
    bad_input(args.x + " (" + dimensions(x) + ") and " + args.y + " (" + dimensions(y) +
              ") hold different numbers of point clouds; a batch pairs them one to one (or "
              "shares a 2-D one)");
  }
  const Index layers = std::max(x.layers(), y.layers());
  try {
    if (layers == 1) {  // moved, not copied, as a dense cost is
      geometries.push_back(std::make_shared<PointCloud<T>>(
          to_precision<T>(args.x, std::move(x.values)),
          to_precision<T>(args.y, std::move(y.values)), metric_from_string(args.metric)));
      return geometries;
    }
  } catch (const InvalidArgument& e) {
    refuse_with_file(e, args);
  }
  const Matrix<T> xs = to_precision<T>(args.x, x.values), ys = to_precision<T>(args.y, y.values);
  const Index n = xs.rows() / x.layers(), m = ys.rows() / y.layers();
  try {
    for (Index k = 0; k < layers; ++k) {
      geometries.push_back(std::make_shared<PointCloud<T>>(
          xs.middleRows(x.layers() > 1 ? k * n : 0, n).eval(),
          ys.middleRows(y.layers() > 1 ? k * m : 0, m).eval(), metric_from_string(args.metric)));
    }
  } catch (const InvalidArgument& e) {
    refuse_with_file(e, args);
  }
  return geometries;
}

// Weights of `size` entries for each of `count` problems: a vector (shared), or, for a batch,
// `count` rows.
Matrix<double> read_weights(const std::string& path, Index count, Index size, bool batch) {
  const Matrix<double> values = io::read_matrix(path);
  if (batch && values.rows() == count && values.cols() == size) return values;
  if (values.rows() != 1 && values.cols() != 1) {
    bad_input(path + ": expected a vector (one column or one row)" +
              (batch ? ", or one row of " + std::to_string(size) + " weights for each of the " +
                           std::to_string(count) + " problems,"
                     : std::string()) +
              " got a " + std::to_string(values.rows()) + " x " + std::to_string(values.cols()) +
              " matrix");
  }
  return Eigen::Map<const Matrix<double>>(values.data(), 1, values.size()).replicate(count, 1);
}

}  // namespace

void add_iteration_options(CLI::App& app, SolverOptions& options, std::string& precision) {
  app.option_defaults()->group(kSolverGroup);
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
  app.option_defaults()->group(kProblemGroup);
  CLI::Option* cost =
      app.add_option("--cost", input.cost, "cost matrix (n x m; inf = forbidden pair)");
  CLI::Option* x = app.add_option("--x", input.x, "points of the rows (n x d)");
  CLI::Option* y = app.add_option("--y", input.y, "points of the columns (m x d)");
  x->needs(y);
  y->needs(x);
  cost->excludes(x)->excludes(y);
  app.add_option("--metric", input.metric, metric_help())
      ->check(CLI::IsMember(names(kMetrics)))
      ->capture_default_str();
  app.add_option("--a", input.a, "row weights (n; default uniform, mass 1)");
  app.add_option("--b", input.b, "column weights (m; default uniform, mass 1)");
  app.add_option("--memory-limit", input.memory_limit,
                 "most memory for the dense arrays (costs, kernel, plan), e.g. 400M or 2G "
                 "(default: what is available; the kernel domain then stores K only if it is "
                 "no larger than the costs or 256 MB)")
      ->group(kSolverGroup);
}

void add_problem_options(CLI::App& app, ProblemInput& input) {
  add_input_options(app, input);
  app.option_defaults()->group(kProblemGroup);
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
  app.add_flag_callback(
      "--no-acceleration", [&input] { input.options.acceleration.enabled = false; },
      "plain Sinkhorn: no over-relaxation");
  app.add_option("--omega", input.options.acceleration.omega,
                 "fixed over-relaxation in [1, 2) (default: from the measured rate)");
  app.add_option("--domain", input.options.domain,
                 "where the target-epsilon passes run: auto, log (n m exps each), kernel "
                 "(a stored kernel with absorption: a matrix-vector product each)")
      ->transform(named(kDomains))
      ->option_text(alternatives(kDomains) + " (default auto)");
  app.add_option("--newton", input.options.newton,
                 "Newton steps on the dual where Sinkhorn is slow: auto (when the measured "
                 "rate says more than 1000 iterations remain, 10 000 in the kernel domain, or the "
                 "error stalls), on (from "
                 "the first check), off")
      ->transform(named(kNewtonModes))
      ->option_text(alternatives(kNewtonModes) + " (default auto)");
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

namespace {

template <typename T>
Problems<T> read_all_inputs(const ProblemInput& args, double epsilon) {
  Problems<T> set;
  const auto geometries = read_geometries<T>(args, set.batch);
  const Index count = Index(geometries.size()), n = geometries[0]->rows(),
              m = geometries[0]->cols();
  const Matrix<double> a =
      args.a.empty() ? Matrix<double>() : read_weights(args.a, count, n, set.batch);
  const Matrix<double> b =
      args.b.empty() ? Matrix<double>() : read_weights(args.b, count, m, set.batch);
  for (Index k = 0; k < count; ++k) {
    Problem<T> problem(geometries[k], epsilon);
    if (!args.a.empty()) problem.a = a.row(k).transpose().cast<T>();
    if (!args.b.empty()) problem.b = b.row(k).transpose().cast<T>();
    problem.rho_a = args.rho_a;
    problem.rho_b = args.rho_b;
    set.problems.push_back(std::move(problem));
  }
  return set;
}

// Under mpirun: this rank's block of the rows (of the cost, or of x and a) and all of y and b.
template <typename T>
Problem<T> read_block(const ProblemInput& args, double epsilon, const Ranks& ranks, Index& offset) {
  const std::uint64_t limit = args.options.memory_limit;
  for (const std::string* path : {&args.cost, &args.x, &args.y, &args.a, &args.b}) {
    if (*path == "-")
      bad_input(
          "-: the standard input reaches one process only; under mpirun give every input as a "
          "file");
  }
  const std::string& rows_file = args.cost.empty() ? args.x : args.cost;
  io::RowBlock block = io::read_row_block(rows_file, ranks.rank(), ranks.size(), limit);
  offset = block.begin;
  const Index columns = block.values.cols();
  std::shared_ptr<const Geometry<T>> geometry;
  try {
    if (!args.cost.empty()) {
      geometry =
          std::make_shared<CostMatrix<T>>(to_precision<T>(args.cost, std::move(block.values)));
    } else {
      Matrix<double> y = io::read_matrix(args.y, limit);
      if (columns != y.cols()) {
        bad_input(args.x + " has " + std::to_string(columns) + " columns but " + args.y + " has " +
                  std::to_string(y.cols()) + " (points need the same dimension)");
      }
      geometry = std::make_shared<PointCloud<T>>(to_precision<T>(args.x, std::move(block.values)),
                                                 to_precision<T>(args.y, std::move(y)),
                                                 metric_from_string(args.metric));
    }
  } catch (const InvalidArgument& e) {
    // The library names the block's row; the file's row is `offset` further (y is whole).
    refuse_with_file(e.field() == "y" ? e : e.offset_by(offset), args);
  }
  Problem<T> problem(geometry, epsilon);
  // The default: uniform over every row, mass 1 (not over this block's rows).
  problem.a = Vector<T>::Constant(geometry->rows(), T(1) / T(block.rows));
  if (!args.a.empty()) {
    const Matrix<double> a = read_weights(args.a, 1, block.rows, false);
    if (a.cols() != block.rows) {
      bad_input(args.a + ": holds " + std::to_string(a.cols()) + " weights but " + rows_file +
                " has " + std::to_string(block.rows) + " rows");
    }
    problem.a = a.row(0).segment(offset, geometry->rows()).transpose().template cast<T>();
  }
  if (!args.b.empty()) {
    const Matrix<double> b = read_weights(args.b, 1, geometry->cols(), false);
    problem.b = b.row(0).transpose().template cast<T>();
  }
  problem.rho_a = args.rho_a;
  problem.rho_b = args.rho_b;
  return problem;
}

[[noreturn]] void refuse_batch(const ProblemInput& args, const std::string& command) {
  bad_input((args.cost.empty() ? args.x + " or " + args.y : args.cost) +
            ": a 3-D array is a batch of problems; eot " + command +
            " takes one (eot solve takes a batch)");
}

}  // namespace

template <typename T>
Problems<T> read_problems(const ProblemInput& args, double epsilon) {
  if (const Ranks& ranks = world(); ranks.size() > 1) {
    Problems<T> set;
    agree(ranks, [&] { set.problems.push_back(read_block<T>(args, epsilon, ranks, set.offset)); });
    try {
      validate(set.problems.front(), args.options, ranks);  // the library's rules, once
    } catch (const InvalidArgument& e) {
      refuse_with_file(e, args);
    }
    return set;
  }
  Problems<T> set = read_all_inputs<T>(args, epsilon);
  for (std::size_t k = 0; k < set.problems.size(); ++k) {
    try {
      validate(set.problems[k], args.options);  // the library's rules, once
    } catch (const InvalidArgument& e) {
      if (!set.batch) refuse_with_file(e, args);
      refuse_with_file(
          InvalidArgument("problem " + std::to_string(k) + ": " + e.what(), e.field(), e.index()),
          args);
    }
  }
  return set;
}

template <typename T>
Problem<T> read_inputs(const ProblemInput& args, double epsilon, const std::string& command) {
  Problems<T> set = read_all_inputs<T>(args, epsilon);
  if (set.batch) refuse_batch(args, command);
  return std::move(set.problems.front());
}

template <typename T>
Problem<T> read_problem(const ProblemInput& args, double epsilon, const std::string& command) {
  Problems<T> set = read_problems<T>(args, epsilon);
  if (set.batch) refuse_batch(args, command);
  return std::move(set.problems.front());
}

nlohmann::ordered_json fields_json(const Result& result, bool found_only) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const ResultField& field : result_fields()) {
    if (found_only && !field.found) continue;
    j[field.name] = std::visit(
        [](const auto& v) -> nlohmann::ordered_json {
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, double>)
            if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
          return v;
        },
        field.get(result));
  }
  return j;
}

template Problem<double> read_inputs(const ProblemInput&, double, const std::string&);
template Problem<float> read_problem(const ProblemInput&, double, const std::string&);
template Problem<double> read_problem(const ProblemInput&, double, const std::string&);
template Problems<float> read_problems(const ProblemInput&, double);
template Problems<double> read_problems(const ProblemInput&, double);

void add_progress_options(CLI::App& app, bool& quiet, bool& progress) {
  app.add_flag("--quiet", quiet, "no progress on stderr");
  app.add_flag("--progress", progress,
               "progress on stderr even when it is not a terminal (a log: a line a second)")
      ->excludes("--quiet");
}

Progress progress_mode(bool quiet, bool json, bool forced) {
  if (quiet || json) return Progress::Off;
  if (isatty(STDERR_FILENO)) return Progress::Terminal;
  return forced ? Progress::Log : Progress::Off;
}

void announce_reads(Progress mode, const ProblemInput& input, bool& printed) {
  for (const std::string* path : {&input.cost, &input.x, &input.y, &input.a, &input.b}) {
    std::error_code error;
    const double bytes =
        path->empty() || *path == "-" ? 0 : double(std::filesystem::file_size(*path, error));
    if (!error && bytes >= 64.0 * (1 << 20))
      announce(mode, "eot: reading " + *path + ", " + format_bytes(bytes), printed);
  }
}

void end_progress(Progress mode, bool& printed) {
  if (printed && mode == Progress::Terminal) std::fputc('\n', stderr);
  printed = false;
}

void announce(Progress mode, const std::string& line, bool& printed) {
  if (mode == Progress::Off) return;
  end_progress(mode, printed);
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

IterationCallback progress_printer(Progress mode, bool& printed, const std::string& prefix) {
  if (mode == Progress::Off) return {};
  struct Last {
    double seconds = -1, error = 0;
    int iteration = 0, stage = 0;
  };
  auto last = std::make_shared<Last>();
  const double every = mode == Progress::Terminal ? 0.1 : 1.0;
  return [last, every, mode, prefix, &printed](const IterationInfo& info) {
    if (info.elapsed_seconds - last->seconds < every && last->seconds >= 0)
      return CallbackAction::Continue;
    // The error shrinks by a factor r per iteration at the target: log(target / error) / log(r)
    // remain.
    std::string left;
    const bool target = info.stage + 1 == info.stages && last->stage == info.stage;
    if (target && last->seconds >= 0 && info.iteration > last->iteration &&
        info.marginal_error < last->error && info.marginal_error > info.threshold) {
      const double per_iteration =
          std::log(info.marginal_error / last->error) / double(info.iteration - last->iteration);
      const double iterations = std::log(info.threshold / info.marginal_error) / per_iteration;
      const double seconds = iterations * (info.elapsed_seconds - last->seconds) /
                             double(info.iteration - last->iteration);
      char text[64];
      std::snprintf(text, sizeof text, ", about %.3g s left", seconds);
      left = text;
    }
    *last = {info.elapsed_seconds, info.marginal_error, info.iteration, info.stage};
    printed = true;
    std::fprintf(stderr,
                 "%s%s: stage %d/%d, epsilon %.3g, iteration %d, marginal error %.3e (target "
                 "%.1e), %.1f s%s%s",
                 mode == Progress::Terminal ? "\r" : "", prefix.c_str(), info.stage + 1,
                 info.stages, info.epsilon, info.iteration, info.marginal_error, info.threshold,
                 info.elapsed_seconds, left.c_str(), mode == Progress::Terminal ? "   " : "\n");
    std::fflush(stderr);
    return CallbackAction::Continue;
  };
}

}  // namespace eot::cli
