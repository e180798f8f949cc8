// eot solve: one entropic OT problem from files.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "eot/io.hpp"
#include "interrupt.hpp"
#include "problem_input.hpp"
#include "ranks.hpp"

namespace eot::cli {

namespace {

struct SolveArgs {
  ProblemInput input;
  double epsilon = 0;
  bool json = false, quiet = false, progress = false;
  std::string plan, potentials, marginals;
};

nlohmann::ordered_json to_json(const Result& r) {
  nlohmann::ordered_json history = nlohmann::ordered_json::array();
  for (const IterationInfo& check : r.history) {
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    for (const auto& [name, value] : history_entry(check))
      entry[name] = std::visit([](const auto& v) -> nlohmann::ordered_json { return v; }, value);
    history.push_back(entry);
  }
  nlohmann::ordered_json j = fields_json(r, false);
  j["history"] = history;
  j["version"] = kVersion;
  return j;
}

// Two vectors under their names (f and g, or the marginals): an .npz file holds them by name,
// any other one after the other.
std::vector<io::NamedArray> named(const char* first, const Eigen::VectorXd& a, const char* second,
                                  const Eigen::VectorXd& b) {
  return {{first, a.data(), {a.size()}}, {second, b.data(), {b.size()}}};
}

// The plan at a result's potentials, refused if it overflows (after a numerical failure): no
// output holds a non-finite value. `problem` may be a block of the result's rows, from `first`.
template <typename T>
Matrix<T> finite_plan(const std::string& path, const Problem<T>& problem, const Result& result,
                      int threads, Index first = 0) {
  Matrix<T> plan = problem.plan(result.f.segment(first, problem.n()), result.g, threads);
  if (!plan.allFinite()) {
    bad_input(path + ": not written: the plan overflows at the returned potentials (" +
              to_string(result.status) + "); nothing was written");
  }
  return plan;
}

// Where the report (or JSON) goes: the standard output, or the standard error when an output
// takes the standard output ("-").
std::ostream& report_stream(const SolveArgs& args) {
  for (const std::string* path : {&args.plan, &args.potentials, &args.marginals})
    if (*path == "-") return std::cerr;
  return std::cout;
}

// A batch (a 3-D cost or point cloud): every problem solved, the outputs stacked, problem k in
// layer or row k.

template <typename T>
int solve_batch(const SolveArgs& args, const std::vector<Problem<T>>& problems) {
  const Index count = Index(problems.size()), n = problems[0].n(), m = problems[0].m();
  SolverOptions options = args.input.options;
  if (!args.plan.empty()) {  // refused before the solve, not after
    if (args.plan.size() < 4 || args.plan.compare(args.plan.size() - 4, 4, ".npy") != 0)
      bad_input("--plan: " + args.plan + ": a batch's plans (" + std::to_string(count) + " x " +
                std::to_string(n) + " x " + std::to_string(m) + ") are written as .npy");
    double geometry_bytes = 0;
    for (const Problem<T>& problem : problems) geometry_bytes += problem.geometry->bytes();
    require_dense_fits(count * n, m, sizeof(double), "--plan: " + std::to_string(count) + " plans",
                       "write --potentials instead: P_ij = a_i b_j exp((f_i + g_j - C_ij) / "
                       "epsilon)",
                       options.memory_limit, geometry_bytes);
  }
  options.interrupt = interrupt_flag();
  const auto start = std::chrono::steady_clock::now();
  const std::vector<Result> results = solve_batched(problems, options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  throw_if_interrupted();

  io::OutputBatch outputs;  // every output lands, or none does
  if (!args.plan.empty()) {
    io::Array plans{{count, n, m}, Matrix<double>(count * n, m)};
    for (Index k = 0; k < count; ++k) {
      plans.values.middleRows(k * n, n) =
          finite_plan(args.plan, problems[k], results[k], options.threads).template cast<double>();
    }
    outputs.write_array(args.plan, plans);
  }
  // Problem k's f and g in row k of the potentials (f its first n columns); its marginals alike.
  Matrix<double> potentials(count, n + m), marginals(count, n + m);
  for (Index k = 0; k < count; ++k) {
    potentials.row(k) << results[k].f.transpose(), results[k].g.transpose();
    if (!args.marginals.empty())
      marginals.row(k) << results[k].row_marginal.transpose(), results[k].col_marginal.transpose();
  }
  for (const auto& [path, values, first, second] :
       {std::tuple{args.potentials, &potentials, "f", "g"},
        {args.marginals, &marginals, "row_marginal", "col_marginal"}}) {
    if (path.empty()) continue;
    if (io::is_archive(path)) {  // B x n and B x m, by name
      const Matrix<double> left = values->leftCols(n), right = values->rightCols(m);
      outputs.write_named(path,
                          {{first, left.data(), {count, n}}, {second, right.data(), {count, m}}});
    } else {
      outputs.write_matrix(path, *values);
    }
  }
  throw_if_interrupted();
  outputs.commit();
  bool converged = true;
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const Result& result : results) {
    converged = converged && result.converged();
    if (args.json) all.push_back(to_json(result));
  }
  if (args.json) {
    std::cout << all.dump(2) << "\n";
  } else {
    report_stream(args) << batch_report(results, seconds);
  }
  return converged ? kConverged : kNotConverged;
}

// One problem; under mpirun, each rank holds a block of its rows and rank 0 writes and prints
// (the other ranks' output goes nowhere: apps/ranks.hpp).
template <typename T>
int solve(const SolveArgs& args) {
  const ProblemInput& in = args.input;
  const Ranks& ranks = world();
  agree(ranks, [&] {  // rank 0 writes the outputs: its view of the folders is the one that counts
    if (ranks.rank() != 0) return;
    io::check_outputs({{"--plan", args.plan, true, true},
                       {"--potentials", args.potentials, true, true},
                       {"--marginals", args.marginals, true, true}},
                      {in.cost, in.x, in.y, in.a, in.b});
    if (args.json && &report_stream(args) != &std::cout)
      bad_input("--json and an output - both write the standard output; name a file for one");
  });
  const Progress progress = progress_mode(args.quiet, args.json, args.progress);
  bool printed = false;
  announce_reads(progress, in, printed);
  const Problems<T> set = read_problems<T>(args.input, args.epsilon);
  if (set.batch) return solve_batch(args, set.problems);
  const Problem<T>& problem = set.problems.front();
  SolverOptions options = args.input.options;
  if (!args.plan.empty()) {  // refused before the solve, not after (rank 0 holds it all)
    double n = double(problem.n());
    ranks.sum(&n, 1);
    agree(ranks, [&] {
      require_dense_fits(Index(n), problem.m(), held_and_written_bytes<T>(), "--plan",
                         "write --potentials instead: P_ij = a_i b_j exp((f_i + g_j - C_ij) / "
                         "epsilon)",
                         options.memory_limit, problem.geometry->bytes());
    });
  }
  // Before the first pass: where the iterations will run and what that takes.
  if (progress != Progress::Off) {
    announce(progress,
             "eot: " + (ranks.size() > 1 ? "log domain, rows split over " +
                                               std::to_string(ranks.size()) + " processes"
                                         : choose_domain(problem, options).reason),
             printed);
  }
  options.callback = progress_printer(progress, printed);
  options.interrupt = interrupt_flag();
  const Result result = eot::solve(problem, options, ranks);
  end_progress(progress, printed);
  throw_if_interrupted();
  // Distributed, a rank that no signal reached stops too (mpirun signals every rank).
  if (result.status == Status::Interrupted) throw Interrupted(SIGTERM);

  // Every output lands, or none does. Distributed, each rank makes its rows of the plan.
  Matrix<double> plan;
  if (!args.plan.empty()) {
    agree(ranks, [&] {
      plan = finite_plan(args.plan, problem, result, options.threads, set.offset)
                 .template cast<double>();
    });
    plan = gather_rows(std::move(plan));
  }
  agree(ranks, [&] {
    if (ranks.rank() != 0) return;
    io::OutputBatch outputs;
    if (!args.plan.empty()) outputs.write_matrix(args.plan, plan);
    if (!args.potentials.empty())
      outputs.write_named(args.potentials, named("f", result.f, "g", result.g));
    if (!args.marginals.empty()) {
      outputs.write_named(args.marginals, named("row_marginal", result.row_marginal, "col_marginal",
                                                result.col_marginal));
    }
    throw_if_interrupted();
    outputs.commit();
  });
  if (args.json) {
    std::cout << to_json(result).dump(2) << "\n";
  } else {
    report_stream(args) << result.full_report();
  }
  return result.converged() ? kConverged : kNotConverged;
}

}  // namespace

void add_solve_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<SolveArgs>();
  CLI::App* command = app.add_subcommand(
      "solve",
      "Solve an entropic OT problem from files, or a batch of them (a 3-D .npy cost or point "
      "cloud: B x n x m, B x n x d; --a, --b 1-D shared or B rows). Under mpirun -np P, one "
      "problem's rows are split over P processes, each reading its own (docs/cli.md)");
  command->footer(kExitCodes);
  command->add_option("--epsilon,--reg", args->epsilon, "entropic regularization, > 0")
      ->required()
      ->group(kProblemGroup);
  add_problem_options(*command, args->input);
  command->option_defaults()->group(kOutputGroup);
  command->add_flag("--json", args->json, "print one JSON object on stdout instead of the report");
  add_progress_options(*command, args->quiet, args->progress);
  command->add_option("--plan", args->plan,
                      "write the plan (n x m; a batch's B x n x m, .npy); - writes any one output "
                      "to the standard output as text, and the report to the standard error");
  command->add_option("--potentials", args->potentials,
                      "write f then g (n + m values; a batch's B rows of them); to .npz, "
                      "the arrays f and g by name");
  command->add_option("--marginals", args->marginals,
                      "write P 1 then P^T 1 (n + m values; a batch's B rows of them); to .npz, "
                      "the arrays row_marginal and col_marginal by name");
  command->callback([args, &run] {
    require_geometry(args->input);
    run = [args] {
      return args->input.precision == "float" ? solve<float>(*args) : solve<double>(*args);
    };
  });
}

}  // namespace eot::cli
