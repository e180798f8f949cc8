// eot sweep: one problem solved along a grid of epsilons, each warm-started from its neighbour,
// with the exact (epsilon = 0) cost beside it for balanced problems.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "eot/io.hpp"
#include "interrupt.hpp"
#include "problem_input.hpp"

extern char** environ;

namespace eot::cli {

namespace {

struct SweepArgs {
  ProblemInput input;
  std::string q, k, v;  // the attention sweep
  std::string range, list, table, plot;
  bool json = false, quiet = false, progress = false;
};

// The table (CSV) and the figure drawn from it with tools/plot_sweep.py (matplotlib, found in
// the source tree, where `cmake --install` put it, or at $EOT_PLOT_SCRIPT), written together.
void write_outputs(const std::string& csv, const SweepArgs& args) {
  io::OutputBatch outputs;
  if (!args.table.empty()) outputs.write_text(args.table, csv);
  if (!args.plot.empty()) {
    std::string script;
    const char* from_env = std::getenv("EOT_PLOT_SCRIPT");
    for (const std::string& candidate :
         {std::string(from_env ? from_env : ""), std::string(EOT_PLOT_SCRIPT),
          std::string(EOT_INSTALLED_PLOT_SCRIPT)}) {
      if (!candidate.empty() && access(candidate.c_str(), R_OK) == 0) {
        script = candidate;
        break;
      }
    }
    if (script.empty())
      throw std::runtime_error("--plot: tools/plot_sweep.py not found; set EOT_PLOT_SCRIPT");
    char table[] = "/tmp/eot-sweep-XXXXXX.csv";
    const int fd = mkstemps(table, 4);
    if (fd < 0) throw OutputError("--plot: cannot create a temporary table in /tmp");
    close(fd);
    struct Remove {
      const char* path;
      ~Remove() { std::remove(path); }
    } remove_table{table};
    io::write_text(table, csv);
    // Debian's Python, where python3-matplotlib installs (not whatever python3 is first on
    // PATH), run with an argument vector: no file name ever reaches a shell.
    const char* python = "/usr/bin/python3";
    try {
      outputs.write_with(args.plot, [&](const std::string& figure) {
        std::vector<std::string> words = {python, script, table, figure};
        std::vector<char*> argv;
        for (std::string& word : words) argv.push_back(word.data());
        argv.push_back(nullptr);
        pid_t child = 0;
        int status = -1;
        if (posix_spawn(&child, python, nullptr, nullptr, argv.data(), environ) == 0) {
          while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
          }
        }
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
      });
    } catch (const OutputError&) {
      throw OutputError("--plot: " + std::string(python) + " " + script +
                        " could not draw the figure (it needs python3 with matplotlib: "
                        "apt-get install python3-matplotlib)");
    }
  }
  throw_if_interrupted();
  outputs.commit();
}

void check_plot_name(const std::string& out) {
  const auto ends = [&](const char* s) {
    return out.size() >= std::strlen(s) &&
           out.compare(out.size() - std::strlen(s), std::strlen(s), s) == 0;
  };
  if (!out.empty() && !ends(".png") && !ends(".svg")) {
    throw CLI::ValidationError("--plot", "'" + out + "' must end in .png or .svg");
  }
  const std::filesystem::path folder = std::filesystem::path(out).parent_path();
  if (!out.empty() && !folder.empty() && !std::filesystem::is_directory(folder)) {
    throw CLI::ValidationError("--plot",
                               "'" + out + "': the folder " + folder.string() + " does not exist");
  }
}

// The largest problem the sweep solves exactly (2.4 GB at kExactBytesPerEntry).
constexpr Index kMaxExactEntries = 25'000'000;

std::vector<double> epsilon_grid(const SweepArgs& args) {
  std::vector<double> grid;
  if (!args.range.empty()) {
    double lo = 0, hi = 0;
    long count = 0;
    char tail = 0;
    if (std::sscanf(args.range.c_str(), "%lf:%lf:%ld%c", &lo, &hi, &count, &tail) != 3 ||
        !(lo > 0) || !(hi >= lo) || !std::isfinite(hi) || count < 2 || count > 10000) {
      bad_input(
          "--epsilon-range: expected MIN:MAX:COUNT with 0 < MIN <= MAX and 2 <= COUNT <= "
          "10000, got '" +
          args.range + "'");
    }
    for (long k = 0; k < count; ++k) {
      grid.push_back(k + 1 == count ? hi : lo * std::pow(hi / lo, double(k) / double(count - 1)));
    }
  } else {
    std::stringstream items(args.list);
    for (std::string item; std::getline(items, item, ',');) {
      char* end = nullptr;
      const double e = std::strtod(item.c_str(), &end);
      if (item.empty() || *end != '\0' || !(e > 0) || !std::isfinite(e)) {
        bad_input("--epsilons: '" + item + "' is not a positive finite number");
      }
      grid.push_back(e);
    }
  }
  std::sort(grid.begin(), grid.end());
  return grid;
}

template <typename T>
int sweep(const SweepArgs& args) {
  const ProblemInput& in = args.input;
  io::check_outputs({{"--table", args.table, false}, {"--plot", args.plot, false}},
                    {in.cost, in.x, in.y, in.a, in.b});
  const std::vector<double> grid = epsilon_grid(args);
  const Progress progress = progress_mode(args.quiet, args.json, args.progress);
  bool printed = false;
  announce_reads(progress, args.input, printed);
  Problem<T> problem = read_problem<T>(args.input, grid.back(), "sweep");
  for (double e : grid) {  // every epsilon must make a valid problem
    problem.epsilon = e;
    validate(problem, args.input.options);
  }

  // From the largest epsilon down, each solve starting from the previous potentials.
  std::vector<Result> results(grid.size());
  SolverOptions options = args.input.options;
  options.interrupt = interrupt_flag();
  for (std::size_t k = grid.size(); k-- > 0;) {
    problem.epsilon = grid[k];
    char prefix[64];
    std::snprintf(prefix, sizeof prefix, "eot sweep: epsilon %zu of %zu", grid.size() - k,
                  grid.size());
    options.callback = progress_printer(progress, printed, prefix);
    results[k] = solve(problem, options);
    throw_if_interrupted();
    if (!results[k].converged() && options.initial_f.size() != 0) {
      // A warm start must never do worse than a cold one: from potentials far from this
      // epsilon's (a large step in the grid) the iterations can stall.
      SolverOptions cold = options;
      cold.initial_f.resize(0);
      cold.initial_g.resize(0);
      Result fresh = solve(problem, cold);
      throw_if_interrupted();
      if (fresh.converged() || fresh.marginal_error < results[k].marginal_error)
        results[k] = std::move(fresh);
    }
    if (results[k].f.allFinite() && results[k].g.allFinite()) {
      options.initial_f = results[k].f;
      options.initial_g = results[k].g;
    }
  }

  // The exact cost, for balanced problems small enough to solve exactly beside the rest.
  std::optional<double> exact;
  const double exact_bytes = double(problem.n()) * double(problem.m()) * kExactBytesPerEntry;
  const double budget = memory_budget(options.memory_limit);  // 0: unknown
  if (problem.rho_a == kInf && problem.rho_b == kInf &&
      problem.n() * problem.m() <= kMaxExactEntries &&
      (budget == 0 || exact_bytes <= budget - problem.geometry->bytes())) {
    announce(progress,
             "eot sweep: the exact cost (network simplex, " + std::to_string(problem.n()) + " x " +
                 std::to_string(problem.m()) + "; does not report progress)",
             printed);
    exact = exact_ot(problem, options.memory_limit).cost;
    throw_if_interrupted();
  }
  end_progress(progress, printed);

  // The columns, in an order scripts rely on: the values each solve found (result_fields()).
  static const char* const kColumns[] = {
      "epsilon", "status", "iterations",     "transport_cost",    "primal", "dual", "gap",
      "entropy", "mass",   "marginal_error", "solve_time_seconds"};
  std::string csv;
  for (const char* column : kColumns) csv += std::string(csv.empty() ? "" : ",") + column;
  csv += std::string(exact ? ",exact_cost" : "") + "\n";
  auto number = [](double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return std::string(text);
  };
  for (const Result& r : results) {
    for (const char* column : kColumns) {
      if (column != kColumns[0]) csv += ",";
      csv += std::visit(
          [&](const auto& v) -> std::string {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, double>)
              return number(v);
            else if constexpr (std::is_same_v<V, long long>)
              return std::to_string(v);
            else
              return v;
          },
          result_field(column).get(r));
    }
    csv += (exact ? "," + number(*exact) : "") + "\n";
  }
  write_outputs(csv, args);

  if (args.json) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const Result& r : results) rows.push_back(fields_json(r, true));
    nlohmann::ordered_json j = {{"n", problem.n()},
                                {"m", problem.m()},
                                {"regime", problem.regime()},
                                {"geometry", problem.geometry->describe()}};
    j["exact_cost"] = exact ? nlohmann::ordered_json(*exact) : nlohmann::ordered_json(nullptr);
    j["rows"] = rows;
    j["version"] = kVersion;
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("eot sweep: %s, %s, %zu epsilons\n", problem.regime().c_str(),
                problem.geometry->describe().c_str(), grid.size());
    std::printf("  %-12s %-16s %10s %18s %18s %12s %10s\n", "epsilon", "status", "iterations",
                "transport_cost", "primal", "marg. error", "time (s)");
    for (const Result& r : results) {
      std::printf("  %-12.4g %-16s %10d %18.10g %18.10g %12.3e %10.4f\n", r.epsilon,
                  to_string(r.status), r.iterations, r.transport_cost, r.primal, r.marginal_error,
                  r.solve_time_seconds);
    }
    if (exact) std::printf("  exact (epsilon = 0) cost: %.12g\n", *exact);
  }
  const bool all =
      std::all_of(results.begin(), results.end(), [](const Result& r) { return r.converged(); });
  return all ? kConverged : kNotConverged;
}

// The attention sweep: how peaked softmax(q k^T / epsilon) is along the grid, with sqrt(d) added
// to the grid and marked by epsilon_over_sqrt_d = 1.
template <typename T>
int attention_sweep(const SweepArgs& args) {
  io::check_outputs({{"--table", args.table, false}, {"--plot", args.plot, false}},
                    {args.q, args.k, args.v});
  const Matrix<T> q = to_precision<T>(args.q, io::read_matrix(args.q));
  const Matrix<T> k = to_precision<T>(args.k, io::read_matrix(args.k));
  if (q.cols() != k.cols()) {
    bad_input(args.q + " has d = " + std::to_string(q.cols()) + " columns but " + args.k + " has " +
              std::to_string(k.cols()));
  }
  Matrix<T> v = Matrix<T>::Zero(k.rows(), 1);
  if (!args.v.empty()) {
    v = to_precision<T>(args.v, io::read_matrix(args.v));
    if (v.rows() != k.rows()) {
      bad_input(args.v + " has " + std::to_string(v.rows()) + " rows but " + args.k + " has " +
                std::to_string(k.rows()) + " (one value per key)");
    }
  }
  const double sqrt_d = std::sqrt(double(q.cols()));
  std::vector<double> grid = epsilon_grid(args);
  if (std::find(grid.begin(), grid.end(), sqrt_d) == grid.end()) {
    grid.insert(std::upper_bound(grid.begin(), grid.end(), sqrt_d), sqrt_d);
  }
  const Matrix<T> reference = attention::forward(q, k, v, sqrt_d);
  std::string csv =
      "epsilon,epsilon_over_sqrt_d,mean_entropy,mean_max_weight,distance_to_hard,"
      "distance_to_uniform" +
      std::string(args.v.empty() ? "" : ",output_change") + "\n";
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  char line[512];
  for (double e : grid) {
    Matrix<T> weights;
    throw_if_interrupted();
    const Matrix<T> out = attention::forward(q, k, v, e, {}, args.input.options.threads, &weights);
    const attention::WeightStats s = attention::weight_stats(weights, q, k);
    const double change = (out - reference).cwiseAbs().maxCoeff();
    std::snprintf(line, sizeof line, "%.17g,%.17g,%.17g,%.17g,%.17g,%.17g", e, e / sqrt_d,
                  s.mean_entropy, s.mean_max_weight, s.distance_to_hard, s.distance_to_uniform);
    csv += line;
    if (!args.v.empty()) {
      std::snprintf(line, sizeof line, ",%.17g", change);
      csv += line;
    }
    csv += "\n";
    nlohmann::ordered_json row = {{"epsilon", e},
                                  {"epsilon_over_sqrt_d", e / sqrt_d},
                                  {"mean_entropy", s.mean_entropy},
                                  {"mean_max_weight", s.mean_max_weight},
                                  {"distance_to_hard", s.distance_to_hard},
                                  {"distance_to_uniform", s.distance_to_uniform}};
    if (!args.v.empty()) row["output_change"] = change;
    rows.push_back(row);
  }
  write_outputs(csv, args);
  if (args.json) {
    nlohmann::ordered_json j = {{"n", q.rows()},    {"m", k.rows()}, {"d", q.cols()},
                                {"sqrt_d", sqrt_d}, {"rows", rows},  {"version", kVersion}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("eot sweep (attention): n = %ld queries, m = %ld keys, d = %ld, sqrt(d) = %g\n",
                long(q.rows()), long(k.rows()), long(q.cols()), sqrt_d);
    std::printf("  %-12s %-10s %14s %14s %16s %18s\n", "epsilon", "/sqrt(d)", "mean entropy",
                "mean max p", "dist. to hard", "dist. to uniform");
    for (const auto& row : rows) {
      const double ratio = row["epsilon_over_sqrt_d"];
      std::printf("  %-12.4g %-10.4g %14.6f %14.6f %16.6f %18.6f%s\n", double(row["epsilon"]),
                  ratio, double(row["mean_entropy"]), double(row["mean_max_weight"]),
                  double(row["distance_to_hard"]), double(row["distance_to_uniform"]),
                  ratio == 1 ? "   <- sqrt(d)" : "");
    }
  }
  return kConverged;
}

}  // namespace

void add_sweep_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<SweepArgs>();
  CLI::App* command = app.add_subcommand(
      "sweep", "Solve one problem along a grid of epsilons (warm-started), with the exact cost");
  command->footer(std::string("Exit code 0 when every epsilon converged, 3 otherwise. ") +
                  kExitCodes);
  command->option_defaults()->group(kProblemGroup);
  CLI::Option* range = command->add_option("--epsilon-range", args->range,
                                           "MIN:MAX:COUNT, log-spaced, both ends included");
  CLI::Option* list = command->add_option("--epsilons", args->list, "E1,E2,...");
  range->excludes(list);
  add_problem_options(*command, args->input);
  command->option_defaults()->group(kProblemGroup);
  CLI::Option* q = command->add_option("--q", args->q, "attention sweep: queries, n x d");
  CLI::Option* k = command->add_option("--k", args->k, "attention sweep: keys, m x d");
  command->add_option("--v", args->v, "attention sweep: values, m x dv (adds output_change)")
      ->needs(q);
  q->needs(k);
  k->needs(q);
  command->option_defaults()->group(kOutputGroup);
  command->add_option("--table", args->table, "write the table as CSV, one row per epsilon");
  command->add_option("--plot", args->plot,
                      "draw the table into FILE.png or FILE.svg (matplotlib)");
  command->add_flag("--json", args->json, "print one JSON object on stdout instead of the table");
  add_progress_options(*command, args->quiet, args->progress);
  command->callback([args, &run] {
    if (args->q.empty()) require_geometry(args->input);
    if (!args->q.empty() && !(args->input.cost.empty() && args->input.x.empty())) {
      throw CLI::ExcludesError("--q", "--cost/--x");
    }
    check_plot_name(args->plot);
    if (args->range.empty() && args->list.empty())
      throw CLI::RequiredError("--epsilon-range or --epsilons");
    run = [args] {
      const bool single = args->input.precision == "float";
      if (!args->q.empty())
        return single ? attention_sweep<float>(*args) : attention_sweep<double>(*args);
      return single ? sweep<float>(*args) : sweep<double>(*args);
    };
  });
}

}  // namespace eot::cli
