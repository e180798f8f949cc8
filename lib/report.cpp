#include <algorithm>
#include <cstdio>
#include <string>

#include "eot/batch.hpp"
#include "eot/error.hpp"
#include "eot/memory.hpp"
#include "eot/solver.hpp"

namespace eot {

namespace {

std::string format(const char* spec, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, spec, value);
  return buffer;
}

std::string rho(double value) {
  return value == kInf ? "inf" : format("%.6g", value);
}

ResultField::Value integer(long long value) {
  return value;
}

// A report line: "  name            value".
void add_line(std::string& out, const char* name, const std::string& value) {
  out += "  " + std::string(name) + std::string(16 - std::string(name).size(), ' ') + value + "\n";
}

}  // namespace

const std::vector<ResultField>& result_fields() {
  using R = const Result&;
  using V = ResultField::Value;
  static const std::vector<ResultField> fields = {
      {"status", [](R r) -> V { return to_string(r.status); }, true},
      {"iterations", [](R r) -> V { return integer(r.iterations); }, true},
      {"epsilon", [](R r) -> V { return r.epsilon; }, true},
      {"transport_cost", [](R r) -> V { return r.transport_cost; }, true, "transport cost",
       [](R r) { return format("%.15g", r.transport_cost) + "   <P, C>"; }},
      {"primal", [](R r) -> V { return r.primal; }, true, "primal",
       [](R r) { return format("%.15g", r.primal); }},
      {"dual", [](R r) -> V { return r.dual; }, true, "dual",
       [](R r) { return format("%.15g", r.dual); }},
      {"gap", [](R r) -> V { return r.gap; }, true, "gap",
       [](R r) { return format("%.3e", r.gap) + "   primal - dual"; }},
      {"entropy", [](R r) -> V { return r.entropy; }, true, "entropy",
       [](R r) { return format("%.15g", r.entropy) + "   -sum P log P"; }},
      {"mass", [](R r) -> V { return r.mass; }, true, "mass",
       [](R r) { return format("%.15g", r.mass) + "   sum P"; }},
      {"marginal_error", [](R r) -> V { return r.marginal_error; }, true, "marginal error",
       [](R r) {
         return format("%.3e", r.marginal_error) + "   (tolerance " + format("%.1e", r.tolerance) +
                " x mass)";
       }},
      {"solve_time_seconds", [](R r) -> V { return r.solve_time_seconds; }, true, "time",
       [](R r) { return format("%.4f", r.solve_time_seconds) + " s"; }},
      {"message", [](R r) -> V { return r.message; }},
      {"n", [](R r) -> V { return integer(r.n); }},
      {"m", [](R r) -> V { return integer(r.m); }},
      {"rho_a", [](R r) -> V { return r.rho_a; }},
      {"rho_b", [](R r) -> V { return r.rho_b; }},
      {"regime", [](R r) -> V { return r.regime; }},
      {"geometry", [](R r) -> V { return r.geometry; }},
      {"precision", [](R r) -> V { return r.precision; }},
      {"tolerance", [](R r) -> V { return r.tolerance; }},
      {"stages", [](R r) -> V { return integer(r.stages); }},
      {"newton_steps", [](R r) -> V { return integer(r.newton_steps); }},
      {"omega", [](R r) -> V { return r.omega; }},
      {"domain", [](R r) -> V { return to_string(r.domain); }},
      {"absorptions", [](R r) -> V { return integer(r.absorptions); }},
      {"kernel_bytes", [](R r) -> V { return r.kernel_bytes; }},
      {"ranks", [](R r) -> V { return integer(r.ranks); }},
  };
  return fields;
}

const ResultField& result_field(const std::string& name) {
  for (const ResultField& field : result_fields())
    if (name == field.name) return field;
  throw InvalidArgument("no result field is named '" + name + "'");
}

std::vector<std::pair<const char*, ResultField::Value>> history_entry(const IterationInfo& check) {
  return {{"iteration", static_cast<long long>(check.iteration)},
          {"epsilon", check.epsilon},
          {"marginal_error", check.marginal_error}};
}

std::string Result::brief_report() const {
  return std::string(to_string(status)) + ": " + std::to_string(iterations) +
         " iterations, marginal error " + format("%.3g", marginal_error) + ", cost " +
         format("%.10g", transport_cost) + ", gap " + format("%.3g", gap) + ", " +
         format("%.3g", solve_time_seconds) + " s";
}

std::string Result::full_report() const {
  std::string out;
  auto line = [&](const char* name, const std::string& value) { add_line(out, name, value); };
  out += "eot: entropic optimal transport, Sinkhorn\n";
  line("problem", regime + ", " + geometry + ", " + precision);
  line("epsilon", format("%.6g", epsilon) + "   rho_a " + rho(rho_a) + "   rho_b " + rho(rho_b));
  line("status", std::string(to_string(status)) + " (" + message + ")");
  line(
      "iterations",
      std::to_string(iterations) +
          (stages > 1 ? " over " + std::to_string(stages) + " epsilon stages" : "") +
          (newton_steps > 0 ? " (" + std::to_string(newton_steps) + " of them Newton steps)" : "") +
          (omega > 1 ? format(", over-relaxed (omega %.3f)", omega) : "") +
          (domain == Domain::Kernel ? ", kernel domain (K " + format_bytes(kernel_bytes) + ", " +
                                          std::to_string(absorptions) +
                                          (absorptions == 1 ? " absorption)" : " absorptions)")
           : kernel_bytes > 0 ? ", log domain (the stored kernel was given up)"
                              : ""));
  for (const char* name : {"marginal_error", "transport_cost", "primal", "dual", "gap", "entropy",
                           "mass", "solve_time_seconds"}) {
    const ResultField& field = result_field(name);
    line(field.label, field.report(*this));
  }
  return out;
}

std::string batch_report(const std::vector<Result>& results, double seconds) {
  std::string out =
      "eot: a batch of " + std::to_string(results.size()) + " entropic OT problems, Sinkhorn\n";
  if (results.empty()) return out;
  auto line = [&](const char* name, const std::string& value) { add_line(out, name, value); };
  // A field every problem shares, or "mixed".
  auto shared = [&](auto field) {
    const auto first = field(results[0]);
    for (const Result& r : results)
      if (field(r) != first) return std::string("mixed");
    return std::string(first);
  };
  line("problems", shared([](const Result& r) { return r.regime; }) + ", " +
                       shared([](const Result& r) { return r.geometry; }) + ", " +
                       shared([](const Result& r) { return r.precision; }));
  line("epsilon", shared([](const Result& r) { return format("%.6g", r.epsilon); }) + "   rho_a " +
                      shared([](const Result& r) { return rho(r.rho_a); }) + "   rho_b " +
                      shared([](const Result& r) { return rho(r.rho_b); }));
  std::vector<double> iterations, errors, costs;
  std::vector<std::size_t> failed;
  for (std::size_t k = 0; k < results.size(); ++k) {
    iterations.push_back(results[k].iterations);
    errors.push_back(results[k].marginal_error);
    costs.push_back(results[k].transport_cost);
    if (!results[k].converged()) failed.push_back(k);
  }
  // Smallest, median and largest.
  auto spread = [](std::vector<double> values, const char* spec) {
    std::sort(values.begin(), values.end());
    return format(spec, values.front()) + " to " + format(spec, values.back()) + ", median " +
           format(spec, values[values.size() / 2]);
  };
  line("status", std::to_string(results.size() - failed.size()) + " of " +
                     std::to_string(results.size()) + " converged");
  line("iterations", spread(iterations, "%.0f"));
  line("marginal error", spread(errors, "%.3e"));
  line("transport cost", spread(costs, "%.10g"));
  line("time", format("%.4f", seconds) + " s");
  for (std::size_t k = 0; k < failed.size() && k < 10; ++k) {
    line(k == 0 ? "not converged" : "",
         "problem " + std::to_string(failed[k]) + ": " + results[failed[k]].brief_report());
  }
  if (failed.size() > 10) line("", "and " + std::to_string(failed.size() - 10) + " more");
  return out;
}

}  // namespace eot
