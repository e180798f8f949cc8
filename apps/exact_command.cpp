// `eot exact`: exact (epsilon = 0) optimal transport, the limit the entropic problem
// approaches, by the network simplex (eot::exact_ot).
#include <chrono>
#include <iostream>
#include <memory>

#include "eot/exact.hpp"
#include "eot/io.hpp"
#include "interrupt.hpp"
#include "problem_input.hpp"

namespace eot::cli {

namespace {

struct ExactArgs {
  ProblemInput input;
  bool json = false;
  std::string plan, potentials;
};

int exact(const ExactArgs& args) {
  const ProblemInput& in = args.input;
  io::check_outputs({{"--plan", args.plan}, {"--potentials", args.potentials}},
                    {in.cost, in.x, in.y, in.a, in.b});
  const Problem<double> problem = read_inputs<double>(in, 1, "exact");  // epsilon unused
  const auto start = std::chrono::steady_clock::now();
  ExactResult result;
  try {
    result = exact_ot(problem, in.options.memory_limit);
  } catch (const InvalidArgument& e) {
    refuse_with_file(e, in);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  throw_if_interrupted();

  io::OutputBatch outputs;  // every output lands, or none does
  if (!args.plan.empty()) outputs.write_matrix(args.plan, result.plan);
  if (!args.potentials.empty()) {
    Eigen::VectorXd both(result.f.size() + result.g.size());
    both << result.f, result.g;
    outputs.write_vector(args.potentials, both);
  }
  throw_if_interrupted();
  outputs.commit();
  if (args.json) {
    const nlohmann::ordered_json j = {{"status", "optimal"},
                                      {"cost", result.cost},
                                      {"dual", result.dual},
                                      {"n", problem.n()},
                                      {"m", problem.m()},
                                      {"geometry", problem.geometry->describe()},
                                      {"solve_time_seconds", seconds},
                                      {"version", kVersion}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("eot exact: optimal transport at epsilon = 0 (network simplex)\n");
    std::printf("  problem         balanced, %s\n", problem.geometry->describe().c_str());
    std::printf("  status          optimal\n");
    std::printf("  cost            %.15g   <P, C>\n", result.cost);
    std::printf("  dual            %.15g   <a, f> + <b, g>\n", result.dual);
    std::printf("  time            %.4f s\n", seconds);
  }
  return kConverged;
}

}  // namespace

void add_exact_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<ExactArgs>();
  CLI::App* command = app.add_subcommand(
      "exact", "Exact optimal transport (epsilon = 0, network simplex), balanced problems");
  command->footer(kExitCodes);
  add_input_options(*command, args->input);
  command->option_defaults()->group(kOutputGroup);
  command->add_flag("--json", args->json, "print one JSON object on stdout instead of the report");
  command->add_option("--plan", args->plan, "write the plan (n x m, at most n + m - 1 nonzeros)");
  command->add_option("--potentials", args->potentials,
                      "write f then g (n + m values): f_i + g_j <= C_ij, equal where P_ij > 0");
  command->callback([args, &run] {
    require_geometry(args->input);
    run = [args] { return exact(*args); };
  });
}

}  // namespace eot::cli
