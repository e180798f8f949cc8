// The `eot` command line: parses, reads files, calls the library, prints, and maps how the
// solve ended to an exit code. No algorithm lives here.
//
// Exit codes: 0 converged; 2 bad input; 3 finished without converging; 1 internal error.
#include "eot/eot.hpp"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "eot/io.hpp"

namespace {

enum Exit { kConverged = 0, kInternal = 1, kBadInput = 2, kNotConverged = 3 };

struct SolveArgs {
  std::string cost, a, b;
  double epsilon = 0;
  double rho_a = eot::kInf, rho_b = eot::kInf;
  eot::SolverOptions options;
};

int run_solve(const SolveArgs& args) {
  auto geometry = std::make_shared<eot::CostMatrix<double>>(eot::io::read_matrix(args.cost));
  eot::Problem<double> problem(geometry, args.epsilon);
  if (!args.a.empty()) problem.a = eot::io::read_vector(args.a);
  if (!args.b.empty()) problem.b = eot::io::read_vector(args.b);
  problem.rho_a = args.rho_a;
  problem.rho_b = args.rho_b;
  const eot::Result result = eot::solve(problem, args.options);
  std::cout << result.full_report();
  return result.converged() ? kConverged : kNotConverged;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"eot: entropic optimal transport (log-domain Sinkhorn)"};
  app.footer(
      "Exit codes: 0 converged, 2 bad input, 3 finished without converging, 1 internal error.");
  app.set_version_flag("--version", std::string("eot ") + eot::kVersion);
  app.require_subcommand(1);

  SolveArgs args;
  CLI::App* solve =
      app.add_subcommand("solve", "Solve an entropic OT problem given by a cost matrix");
  solve->add_option("--cost", args.cost, "cost matrix file (n x m; +inf = forbidden pair)")
      ->required();
  solve->add_option("--a", args.a, "row weights file (n; default uniform, mass 1)");
  solve->add_option("--b", args.b, "column weights file (m; default uniform, mass 1)");
  solve->add_option("--epsilon,--reg", args.epsilon, "entropic regularization, > 0")->required();
  solve->add_option("--rho-a", args.rho_a, "row marginal penalty: inf hard (default), 0 free");
  solve->add_option("--rho-b", args.rho_b, "column marginal penalty: inf hard (default), 0 free");
  solve->add_option("--tolerance", args.options.tolerance, "marginal error relative to mass");
  solve->add_option("--max-iterations", args.options.max_iterations, "iteration budget")
      ->capture_default_str();
  solve->add_option("--check-every", args.options.check_every, "iterations between checks")
      ->capture_default_str();
  solve->add_option("--threads", args.options.threads, "OpenMP threads (0 = default)");
  solve->add_flag("--epsilon-scaling", args.options.epsilon_scaling.enabled,
                  "anneal epsilon from the cost range");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kBadInput;
  }
  try {
    return run_solve(args);
  } catch (const eot::InvalidArgument& e) {
    std::cerr << "eot: " << e.what() << "\n";
    return kBadInput;
  } catch (const eot::IoError& e) {
    std::cerr << "eot: " << e.what() << "\n";
    return kBadInput;
  } catch (const std::exception& e) {
    std::cerr << "eot: internal error: " << e.what() << "\n";
    return kInternal;
  }
}
