#include <cstdio>
#include <string>

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

}  // namespace

std::string Result::brief_report() const {
  return std::string(to_string(status)) + ": " + std::to_string(iterations) +
         " iterations, marginal error " + format("%.3g", marginal_error) + ", cost " +
         format("%.10g", transport_cost) + ", gap " + format("%.3g", gap) + ", " +
         format("%.3g", solve_time_seconds) + " s";
}

std::string Result::full_report() const {
  std::string out;
  auto line = [&](const char* name, const std::string& value) {
    out +=
        "  " + std::string(name) + std::string(16 - std::string(name).size(), ' ') + value + "\n";
  };
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
          (domain == "kernel" ? ", kernel domain (K " + format_bytes(kernel_bytes) + ", " +
                                    std::to_string(absorptions) +
                                    (absorptions == 1 ? " absorption)" : " absorptions)")
           : kernel_bytes > 0 ? ", log domain (the stored kernel was given up)"
                              : ""));
  line("marginal error",
       format("%.3e", marginal_error) + "   (tolerance " + format("%.1e", tolerance) + " x mass)");
  line("transport cost", format("%.15g", transport_cost) + "   <P, C>");
  line("primal", format("%.15g", primal));
  line("dual", format("%.15g", dual));
  line("gap", format("%.3e", gap) + "   primal - dual");
  line("entropy", format("%.15g", entropy) + "   -sum P log P");
  line("mass", format("%.15g", mass) + "   sum P");
  line("time", format("%.4f", solve_time_seconds) + " s");
  return out;
}

}  // namespace eot
