// eot solve: one entropic OT problem from files.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "eot/io.hpp"
#include "interrupt.hpp"
#include "problem_input.hpp"

namespace eot::cli {

namespace {

struct SolveArgs {
  ProblemInput input;
  double epsilon = 0;
  bool json = false, quiet = false;
  std::string plan, potentials, marginals;
};

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
  nlohmann::ordered_json j = values_json(r);
  j["message"] = r.message;
  j["n"] = r.n;
  j["m"] = r.m;
  j["rho_a"] = rho(r.rho_a);
  j["rho_b"] = rho(r.rho_b);
  j["regime"] = r.regime;
  j["geometry"] = r.geometry;
  j["precision"] = r.precision;
  j["tolerance"] = r.tolerance;
  j["stages"] = r.stages;
  j["newton_steps"] = r.newton_steps;
  j["omega"] = r.omega;
  j["domain"] = r.domain;
  j["absorptions"] = r.absorptions;
  j["kernel_bytes"] = r.kernel_bytes;
  j["history"] = history;
  j["version"] = kVersion;
  return j;
}

Eigen::VectorXd concatenate(const Eigen::VectorXd& first, const Eigen::VectorXd& second) {
  Eigen::VectorXd both(first.size() + second.size());
  both << first, second;
  return both;
}

template <typename T>
int solve(const SolveArgs& args) {
  const ProblemInput& in = args.input;
  io::check_outputs(
      {{"--plan", args.plan}, {"--potentials", args.potentials}, {"--marginals", args.marginals}},
      {in.cost, in.x, in.y, in.a, in.b});
  const Problem<T> problem = read_problem<T>(args.input, args.epsilon);
  SolverOptions options = args.input.options;
  if (!args.plan.empty()) {  // refused before the solve, not after
    require_dense_fits(problem.n(), problem.m(), held_and_written_bytes<T>(), "--plan",
                       "write --potentials instead: P_ij = a_i b_j exp((f_i + g_j - C_ij) / "
                       "epsilon)",
                       options.memory_limit, problem.geometry->bytes());
  }
  const bool progress = !args.quiet && !args.json && isatty(STDERR_FILENO);
  // Before the first pass: where the iterations will run and what that takes.
  if (progress) std::fprintf(stderr, "eot: %s\n", choose_domain(problem, options).reason.c_str());
  bool printed = false;
  options.callback = progress_printer(progress, printed);
  options.interrupt = interrupt_flag();
  const Result result = eot::solve(problem, options);
  if (printed) std::fputc('\n', stderr);
  throw_if_interrupted();

  // Every output lands, or none does.
  io::OutputBatch outputs;
  if (!args.plan.empty()) {
    const Matrix<T> plan = problem.plan(result.f, result.g, options.threads);
    if (!plan.allFinite()) {  // never a non-finite value (after a numerical failure)
      bad_input(args.plan + ": not written: the plan overflows at the returned potentials (" +
                to_string(result.status) + "); nothing was written");
    }
    outputs.write_matrix(args.plan, plan.template cast<double>());
  }
  if (!args.potentials.empty())
    outputs.write_vector(args.potentials, concatenate(result.f, result.g));
  if (!args.marginals.empty()) {
    outputs.write_vector(args.marginals, concatenate(result.row_marginal, result.col_marginal));
  }
  throw_if_interrupted();
  outputs.commit();
  if (args.json) {
    std::cout << to_json(result).dump(2) << "\n";
  } else {
    std::cout << result.full_report();
  }
  return result.converged() ? kConverged : kNotConverged;
}

}  // namespace

void add_solve_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<SolveArgs>();
  CLI::App* command = app.add_subcommand("solve", "Solve an entropic OT problem from files");
  command->footer(kExitCodes);
  add_problem_options(*command, args->input);
  command->add_option("--epsilon,--reg", args->epsilon, "entropic regularization, > 0")->required();
  command->add_flag("--json", args->json, "print one JSON object on stdout instead of the report");
  command->add_flag("--quiet", args->quiet, "no progress on stderr");
  command->add_option("--plan", args->plan, "write the plan (n x m)");
  command->add_option("--potentials", args->potentials, "write f then g (n + m values)");
  command->add_option("--marginals", args->marginals, "write P 1 then P^T 1 (n + m values)");
  command->callback([args, &run] {
    require_geometry(args->input);
    run = [args] {
      return args->input.precision == "float" ? solve<float>(*args) : solve<double>(*args);
    };
  });
}

}  // namespace eot::cli
