// `eot divergence`: the debiased Sinkhorn divergence between two measures, and its gradients
// (eot::sinkhorn_divergence).
#include <iostream>
#include <map>
#include <memory>

#include "eot/divergence.hpp"
#include "eot/io.hpp"
#include "interrupt.hpp"
#include "problem_input.hpp"

namespace eot::cli {

namespace {

struct DivergenceArgs {
  std::string x, y, metric = "sqeuclidean", cost_xy, cost_xx, cost_yy, a, b;
  std::string precision = "double";
  double epsilon = 0, rho = kInf;
  SolverOptions options;
  bool json = false;
  std::string grad_x, grad_y, grad_a, grad_b;
};

template <typename T>
int divergence(const DivergenceArgs& args) {
  const bool clouds = !args.x.empty();
  io::check_outputs({{"--grad-x", args.grad_x},
                     {"--grad-y", args.grad_y},
                     {"--grad-a", args.grad_a},
                     {"--grad-b", args.grad_b}},
                    {args.x, args.y, args.cost_xy, args.cost_xx, args.cost_yy, args.a, args.b});
  if (!clouds && !(args.grad_x.empty() && args.grad_y.empty()))
    bad_input("--grad-x and --grad-y need point clouds (--x, --y), not cost matrices");
  // The library names the field; the message names the file it came from.
  const std::map<std::string, std::string> files = {
      {"x", args.x},
      {"y", args.y},
      {"cost", clouds ? args.x + " and " + args.y : args.cost_xy},
      {"cost_xx", args.cost_xx},
      {"cost_yy", args.cost_yy},
      {"a", args.a},
      {"b", args.b},
      {"masses", args.a + (args.a.empty() || args.b.empty() ? "" : " and ") + args.b}};
  auto read = [&](const std::string& file) { return to_precision<T>(file, io::read_matrix(file)); };
  DivergenceResult r;
  try {
    Matrix<T> x, y;
    std::shared_ptr<const Geometry<T>> xy, xx, yy;
    if (clouds) {
      x = read(args.x);
      y = read(args.y);
      if (x.cols() != y.cols()) {
        bad_input(args.x + " has " + std::to_string(x.cols()) + " columns but " + args.y + " has " +
                  std::to_string(y.cols()) + " (points need the same dimension)");
      }
    } else {
      xy = std::make_shared<CostMatrix<T>>(read(args.cost_xy));
      xx = std::make_shared<CostMatrix<T>>(read(args.cost_xx));
      yy = std::make_shared<CostMatrix<T>>(read(args.cost_yy));
    }
    const Index n = clouds ? x.rows() : xy->rows(), m = clouds ? y.rows() : xy->cols();
    const Vector<T> a = args.a.empty() ? Vector<T>::Constant(n, T(1.0 / n))
                                       : Vector<T>(io::read_vector(args.a).template cast<T>());
    const Vector<T> b = args.b.empty() ? Vector<T>::Constant(m, T(1.0 / m))
                                       : Vector<T>(io::read_vector(args.b).template cast<T>());
    SolverOptions options = args.options;
    options.interrupt = interrupt_flag();
    r = clouds ? sinkhorn_divergence(x, y, metric_from_string(args.metric), a, b, args.epsilon,
                                     args.rho, options)
               : sinkhorn_divergence(xy, xx, yy, a, b, args.epsilon, args.rho, options);
  } catch (const InvalidArgument& e) {
    const auto file = files.find(e.field());
    if (file == files.end() || file->second.empty()) throw;
    bad_input(file->second + ": " + e.what());
  }
  throw_if_interrupted();

  io::OutputBatch outputs;  // every output lands, or none does
  for (const auto& [file, values] : {std::pair{args.grad_x, &r.grad_x}, {args.grad_y, &r.grad_y}}) {
    if (!file.empty()) outputs.write_matrix(file, *values);
  }
  for (const auto& [file, values] : {std::pair{args.grad_a, &r.grad_a}, {args.grad_b, &r.grad_b}}) {
    if (!file.empty()) outputs.write_vector(file, *values);
  }
  throw_if_interrupted();
  outputs.commit();
  const char* status = to_string(r.status);
  if (args.json) {
    nlohmann::ordered_json j = {{"divergence", r.divergence},
                                {"ot_xy", r.ot_xy},
                                {"ot_xx", r.ot_xx},
                                {"ot_yy", r.ot_yy},
                                {"status", status},
                                {"iterations", r.iterations},
                                {"solve_time_seconds", r.solve_time_seconds},
                                {"epsilon", args.epsilon},
                                {"rho", args.rho == kInf ? nlohmann::ordered_json("inf")
                                                         : nlohmann::ordered_json(args.rho)},
                                {"message", r.message},
                                {"version", kVersion}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf(
        "eot divergence: S = OT(a, b) - OT(a, a) / 2 - OT(b, b) / 2 + eps (m_a - m_b)^2 / 2\n");
    std::printf("  status          %s%s%s\n", status, r.message.empty() ? "" : ": ",
                r.message.c_str());
    std::printf("  divergence      %.15g\n", r.divergence);
    std::printf("  OT(a, b)        %.15g\n", r.ot_xy);
    std::printf("  OT(a, a)        %.15g\n", r.ot_xx);
    std::printf("  OT(b, b)        %.15g\n", r.ot_yy);
    std::printf("  iterations      %d (the three solves)\n", r.iterations);
    std::printf("  time            %.4f s\n", r.solve_time_seconds);
  }
  return r.status == Status::Converged ? kConverged : kNotConverged;
}

}  // namespace

void add_divergence_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<DivergenceArgs>();
  CLI::App* command = app.add_subcommand(
      "divergence", "Debiased Sinkhorn divergence between two measures, and its gradients");
  command->footer(kExitCodes);
  command->option_defaults()->group(kProblemGroup);
  command->add_option("--epsilon,--reg", args->epsilon, "entropic regularization, > 0")->required();
  CLI::Option* x = command->add_option("--x", args->x, "points of the first measure (n x d)");
  CLI::Option* y = command->add_option("--y", args->y, "points of the second measure (m x d)");
  command->add_option("--metric", args->metric, metric_help())
      ->check(CLI::IsMember(names(kMetrics)))
      ->capture_default_str();
  CLI::Option* xy = command->add_option("--cost-xy", args->cost_xy, "C(x, y), n x m");
  CLI::Option* xx = command->add_option("--cost-xx", args->cost_xx, "C(x, x), n x n");
  CLI::Option* yy = command->add_option("--cost-yy", args->cost_yy, "C(y, y), m x m");
  x->needs(y);
  y->needs(x);
  xy->needs(xx)->needs(yy)->excludes(x)->excludes(y);
  xx->needs(xy);
  yy->needs(xy);
  command->add_option("--a", args->a, "weights of the first measure (default uniform, mass 1)");
  command->add_option("--b", args->b, "weights of the second measure (default uniform, mass 1)");
  command->add_option("--rho", args->rho, "marginal penalty of both sides: inf = balanced");
  add_iteration_options(*command, args->options, args->precision);
  command->option_defaults()->group(kOutputGroup);
  command->add_flag("--json", args->json, "print one JSON object on stdout instead of the report");
  command->add_option("--grad-x", args->grad_x, "write dS/dx (n x d)");
  command->add_option("--grad-y", args->grad_y, "write dS/dy (m x d)");
  command->add_option("--grad-a", args->grad_a, "write dS/da (n)");
  command->add_option("--grad-b", args->grad_b, "write dS/db (m)");
  command->callback([args, &run] {
    if (args->x.empty() && args->cost_xy.empty())
      throw CLI::RequiredError("--x/--y or --cost-xy/--cost-xx/--cost-yy");
    run = [args] {
      return args->precision == "float" ? divergence<float>(*args) : divergence<double>(*args);
    };
  });
}

}  // namespace eot::cli
