// `eot barycenter`: the fixed-support entropic barycenter of histograms (eot::barycenter).
#include <iostream>
#include <map>
#include <memory>

#include "eot/barycenter.hpp"
#include "eot/io.hpp"
#include "interrupt.hpp"
#include "problem_input.hpp"

namespace eot::cli {

namespace {

struct BarycenterArgs {
  std::string measures, cost, lambdas, out, precision = "double";
  double epsilon = 0;
  SolverOptions options;
  bool json = false, debiased = false;
};

template <typename T>
int barycenter(const BarycenterArgs& args) {
  io::check_outputs({{"--out", args.out}}, {args.measures, args.cost, args.lambdas});
  BarycenterResult r;
  const std::map<std::string, std::string> files = {
      {"measures", args.measures}, {"cost", args.cost}, {"lambdas", args.lambdas}};
  Index n = 0, k = 0;
  try {
    const Matrix<T> measures = to_precision<T>(args.measures, io::read_matrix(args.measures));
    n = measures.cols();
    k = measures.rows();
    auto cost =
        std::make_shared<CostMatrix<T>>(to_precision<T>(args.cost, io::read_matrix(args.cost)));
    const Eigen::VectorXd lambdas =
        args.lambdas.empty() ? Eigen::VectorXd() : Eigen::VectorXd(io::read_vector(args.lambdas));
    SolverOptions options = args.options;
    options.interrupt = interrupt_flag();
    r = eot::barycenter<T>(cost, measures, lambdas, args.epsilon, options, args.debiased);
  } catch (const InvalidArgument& e) {
    const auto file = files.find(e.field());
    if (file == files.end() || file->second.empty()) throw;
    bad_input(file->second + ": " + e.what());
  }
  throw_if_interrupted();
  io::OutputBatch outputs;
  outputs.write_vector(args.out, r.barycenter);
  throw_if_interrupted();
  outputs.commit();
  if (args.json) {
    const nlohmann::ordered_json j = {{"status", to_string(r.status)},
                                      {"iterations", r.iterations},
                                      {"marginal_error", r.marginal_error},
                                      {"solve_time_seconds", r.solve_time_seconds},
                                      {"n", n},
                                      {"k", k},
                                      {"epsilon", args.epsilon},
                                      {"debiased", args.debiased},
                                      {"message", r.message},
                                      {"version", kVersion}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("eot barycenter: %ld histograms on %ld points, epsilon %g%s\n", long(k), long(n),
                args.epsilon, args.debiased ? ", debiased" : "");
    std::printf("  status          %s (%s)\n", to_string(r.status), r.message.c_str());
    std::printf("  marginal error  %.3e   sum_k lambda_k |P_k 1 - a_k|_1%s\n", r.marginal_error,
                args.debiased ? " + |d (K d) - b|_1" : "");
    std::printf("  time            %.4f s\n", r.solve_time_seconds);
  }
  return r.status == Status::Converged ? kConverged : kNotConverged;
}

}  // namespace

void add_barycenter_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<BarycenterArgs>();
  CLI::App* command =
      app.add_subcommand("barycenter",
                         "Entropic barycenter of histograms on one support (iterative Bregman "
                         "projections, POT's convention)");
  command->footer(kExitCodes);
  command->option_defaults()->group(kProblemGroup);
  command->add_option("--epsilon,--reg", args->epsilon, "entropic regularization, > 0")->required();
  command->add_option("--measures", args->measures, "the histograms, k x n (one a row)")
      ->required();
  command->add_option("--cost", args->cost, "costs between the support's points, n x n")
      ->required();
  command->add_option("--lambdas", args->lambdas, "the histograms' weights, k (default uniform)");
  command->add_flag("--debiased", args->debiased,
                    "the debiased barycenter (Janati et al. 2020; POT's barycenter_debiased): "
                    "no entropic blur");
  add_iteration_options(*command, args->options, args->precision);
  command->option_defaults()->group(kOutputGroup);
  command->add_option("--out", args->out, "write the barycenter (n values)")->required();
  command->add_flag("--json", args->json, "print one JSON object on stdout instead of the report");
  command->callback([args, &run] {
    run = [args] {
      return args->precision == "float" ? barycenter<float>(*args) : barycenter<double>(*args);
    };
  });
}

}  // namespace eot::cli
