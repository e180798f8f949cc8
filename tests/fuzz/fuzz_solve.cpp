// Dense problems decoded from arbitrary bytes, then solved. Validation may refuse a problem
// (InvalidArgument); any other exception or sanitizer report is a bug, and so is a non-finite
// value in a result: the solver's contract is no NaN and no inf in any result, ever, whatever
// the status (a solve that cannot converge says so in its status).
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "eot/error.hpp"
#include "eot/solver.hpp"
#include "values.hpp"

namespace {

using Eigen::VectorXd;
using eot::Index;
using eot::kInf;

VectorXd vector(FuzzedDataProvider& in, Index size, double (*draw)(FuzzedDataProvider&)) {
  VectorXd out(size);
  for (double& v : out) v = draw(in);
  return out;
}

struct Input {
  bool single = false;  // float precision
  eot::Matrix<double> cost;
  VectorXd a, b;
  double epsilon = 0, rho_a = 0, rho_b = 0;
  eot::SolverOptions options;
};

// tests/fuzz/solve_input.py writes the input for a given problem: change both together.
Input decode(FuzzedDataProvider& in) {
  Input x;
  x.single = in.ConsumeBool();
  const Index n = in.ConsumeIntegralInRange(1, 8), m = in.ConsumeIntegralInRange(1, 8);
  x.cost.resize(n, m);
  for (Index k = 0; k < x.cost.size(); ++k) x.cost.data()[k] = any_value(in);
  x.a = vector(in, n, magnitude);
  x.b = vector(in, m, magnitude);
  if (in.ConsumeBool()) x.b *= x.a.sum() / x.b.sum();  // equal masses, as balanced needs
  x.epsilon = magnitude(in);
  x.rho_a = magnitude(in);
  x.rho_b = magnitude(in);
  eot::SolverOptions& o = x.options;
  o.threads = 1;
  o.max_iterations = in.ConsumeIntegralInRange(1, 50);
  o.check_every = in.ConsumeIntegralInRange(1, 10);
  if (in.ConsumeBool()) o.tolerance = magnitude(in);
  eot::EpsilonScaling& s = o.epsilon_scaling;
  s.enabled = in.ConsumeBool();
  if (in.ConsumeBool()) s.initial_epsilon = magnitude(in);
  if (in.ConsumeBool()) s.factor = in.ConsumeProbability<double>();
  s.iterations_per_stage = in.ConsumeIntegralInRange(1, 4);
  if (in.ConsumeBool()) o.initial_f = vector(in, n, any_value);
  if (in.ConsumeBool()) o.initial_g = vector(in, m, any_value);
  return x;
}

template <typename Derived>
void print(const char* name, const Eigen::DenseBase<Derived>& values) {
  std::fprintf(stderr, "%s (%td x %td):", name, values.rows(), values.cols());
  for (Index i = 0; i < values.rows(); ++i) {
    for (Index j = 0; j < values.cols(); ++j) std::fprintf(stderr, " %.17g", values(i, j));
  }
  std::fprintf(stderr, "\n");
}

[[noreturn]] void fail(const Input& x, const eot::Result& result, const std::string& what) {
  std::fprintf(stderr, "non-finite %s in the result of:\nprecision %s\n", what.c_str(),
               x.single ? "float" : "double");
  print("cost", x.cost);
  print("a", x.a.transpose());
  print("b", x.b.transpose());
  const eot::SolverOptions& o = x.options;
  std::fprintf(stderr,
               "epsilon %.17g rho_a %.17g rho_b %.17g\nmax_iterations %d check_every %d "
               "tolerance %.17g\nepsilon_scaling %d initial_epsilon %.17g factor %.17g "
               "iterations_per_stage %d\n",
               x.epsilon, x.rho_a, x.rho_b, o.max_iterations, o.check_every, o.tolerance,
               int(o.epsilon_scaling.enabled), o.epsilon_scaling.initial_epsilon,
               o.epsilon_scaling.factor, o.epsilon_scaling.iterations_per_stage);
  if (o.initial_f.size()) print("initial_f", o.initial_f.transpose());
  if (o.initial_g.size()) print("initial_g", o.initial_g.transpose());
  std::fprintf(stderr, "%s\n", result.full_report().c_str());
  std::abort();
}

void check(const Input& x, const eot::Result& r) {
  for (const auto& [name, value] :
       {std::pair{"marginal_error", r.marginal_error},
        std::pair{"transport_cost", r.transport_cost}, std::pair{"primal", r.primal},
        std::pair{"dual", r.dual}, std::pair{"gap", r.gap}, std::pair{"entropy", r.entropy},
        std::pair{"mass", r.mass}}) {
    if (!std::isfinite(value)) fail(x, r, name);
  }
  for (const auto& [name, values] :
       {std::pair{"f", &r.f}, std::pair{"g", &r.g}, std::pair{"row_marginal", &r.row_marginal},
        std::pair{"col_marginal", &r.col_marginal}}) {
    if (!values->allFinite()) fail(x, r, name);
  }
  for (const eot::IterationInfo& c : r.history) {
    if (!std::isfinite(c.marginal_error)) fail(x, r, "marginal error in the history");
  }
}

template <typename T>
void solve(const Input& x) {
  try {
    eot::Problem<T> problem(std::make_shared<eot::CostMatrix<T>>(x.cost.cast<T>()), x.epsilon);
    problem.a = x.a.cast<T>();
    problem.b = x.b.cast<T>();
    problem.rho_a = x.rho_a;
    problem.rho_b = x.rho_b;
    check(x, eot::solve(problem, x.options));
  } catch (const eot::InvalidArgument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const Input x = decode(in);
  if (x.single) {
    solve<float>(x);
  } else {
    solve<double>(x);
  }
  return 0;
}
