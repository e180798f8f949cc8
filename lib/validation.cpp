// The rules a problem and its options must meet before a solve: each check names the field it
// concerns (InvalidArgument's field and index) and, distributed, every rank reaches the same
// verdict.
#include "detail/validation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "detail/text.hpp"
#include "eot/distributed.hpp"
#include "eot/error.hpp"
#include "eot/memory.hpp"
#include "eot/parallel.hpp"

namespace eot::detail {

using Eigen::VectorXd;

namespace {

[[noreturn]] void reject(const std::string& message, const std::string& field = "",
                         long long index = -1) {
  throw InvalidArgument(message, field, index);
}

template <typename T>
Whole whole(const Problem<T>& block, const Ranks& ranks) {
  Whole w;
  w.mass_a = block.a.template cast<double>().sum();
  w.mass_b = block.b.template cast<double>().sum();
  w.bounds = block.geometry->known_cost_bounds();
  w.may_forbid = block.geometry->may_forbid();
  w.n = block.n();
  if (ranks.size() == 1) return w;
  const std::vector<double> rows = ranks.all_gather({double(block.n())});
  w.n = 0;
  for (int r = 0; r < ranks.size(); ++r) {
    if (r == ranks.rank()) w.offset = w.n;
    w.n += Index(rows[r]);
  }
  ranks.sum(&w.mass_a, 1);
  double extremes[] = {-w.bounds.min, w.bounds.max, double(w.may_forbid)};
  ranks.max(extremes, 3);
  w.bounds = {-extremes[0], extremes[1]};
  w.may_forbid = extremes[2] > 0;
  return w;
}

// Weights: right size, finite, non-negative (`w`: the entries from row `offset` on).
template <typename T>
void check_weights(const char* name, const Vector<T>& w, Index size, const char* dimension,
                   Index offset) {
  if (w.size() != size) {
    reject(std::string(name) + " has " + std::to_string(w.size()) + " entries but the cost has " +
               std::to_string(size) + " " + dimension,
           name);
  }
  for (Index i = 0; i < w.size(); ++i) {
    if (!std::isfinite(w[i]) || w[i] < 0) {
      reject(std::string(name) + "(" + std::to_string(offset + i) + ") is " + str(w[i]) +
                 ": weights must be finite and >= 0",
             name, offset + i);
    }
  }
}

// A positive total mass (the whole problem's).
void check_mass(const char* name, double mass) {
  if (!(mass > 0)) {
    reject(std::string(name) + ": the total mass is 0; at least one weight must be positive", name);
  }
}

// The solver works with C_ij / epsilon in precision T. Beyond 1 / (unit roundoff) those
// numbers no longer resolve differences of order 1 in the exponents: the potentials and the
// plan they define would be noise (and could overflow).
template <typename T>
void check_resolution(const Problem<T>& problem, const Whole& whole) {
  const double limit = 1 / std::numeric_limits<T>::epsilon();
  const double magnitude = whole.bounds.magnitude();
  if (magnitude / problem.epsilon > limit) {
    reject("epsilon is " + str(problem.epsilon) + " but the costs reach " + str(magnitude) +
               ": |C| / epsilon = " + str(magnitude / problem.epsilon) + " is beyond what " +
               (std::is_same_v<T, float> ? "float" : "double") + " resolves (" + str(limit) +
               "); raise epsilon, shift or rescale the costs" +
               (std::is_same_v<T, float> ? ", or use double" : ""),
           "cost");
  }
}

// What keeps every value of a solve within double's range (exp(709) is the largest):
// the plan's total mass, the mass of a plan with both sides free, soft sides' exp(-f / rho)
// at a warm start, and a finite number of epsilon-scaling stages within the budget.
template <typename T>
void check_range(const Problem<T>& p, const SolverOptions& o, const Whole& whole) {
  constexpr double kMaxExponent = 700;
  const double mass_a = whole.mass_a, mass_b = whole.mass_b;
  if (!(std::log(mass_a) + std::log(mass_b) <= kMaxExponent)) {
    reject("a and b: the masses " + str(mass_a) + " and " + str(mass_b) +
               " multiply beyond what double holds; rescale the weights",
           "masses");
  }
  const CostBounds bounds = whole.bounds;
  const double exponent = std::log(mass_a) + std::log(mass_b) - bounds.min / p.epsilon;
  if (p.rho_a == 0 && p.rho_b == 0 && exponent > kMaxExponent) {
    reject("with both sides free the plan is a_i b_j exp(-C_ij / epsilon); the smallest cost " +
               str(bounds.min) + " makes its mass about exp(" + str(exponent) +
               "), beyond double; shift the costs up or raise epsilon",
           "cost");
  }
  for (const auto& [name, v, rho, symbol, offset] :
       {std::tuple{"initial_f", &o.initial_f, p.rho_a, "f", whole.offset},
        std::tuple{"initial_g", &o.initial_g, p.rho_b, "g", Index(0)}}) {
    if (rho == 0 || rho == kInf) continue;
    for (Index i = 0; i < v->size(); ++i) {
      if (std::abs((*v)[i]) > kMaxExponent * rho) {
        reject(std::string(name) + "(" + std::to_string(offset + i) + ") is " + str((*v)[i]) +
                   ": exp(-" + symbol +
                   " / rho) overflows; warm-start from the potentials of a nearby problem",
               name, offset + i);
      }
    }
  }
  const EpsilonScaling& s = o.epsilon_scaling;
  if (s.enabled && p.rho_a > 0 && p.rho_b > 0) {
    const double start = s.initial_epsilon > 0 ? s.initial_epsilon : bounds.range();
    const double stages = std::ceil(std::log(start / p.epsilon) / std::log(1 / s.factor));
    if (!(stages * s.iterations_per_stage < o.max_iterations)) {
      reject("epsilon scaling from " + str(start) + " down to " + str(p.epsilon) + " by " +
             str(s.factor) + " takes " + str(stages) + " stages of " +
             std::to_string(s.iterations_per_stage) +
             " iterations, beyond max_iterations = " + std::to_string(o.max_iterations));
    }
  }
}

void check_rho(const char* name, double rho) {
  if (std::isnan(rho) || rho < 0) {
    reject(std::string(name) + " is " + str(rho) +
           ": it must be in [0, inf] (inf = hard, 0 = free)");
  }
}

// A constrained side (rho > 0) needs every positive-weight row to reach at least one column of
// positive weight through a finite cost, and vice versa; otherwise its potential is infinite.
template <typename T>
void check_admissible(const Problem<T>& problem, int threads, const Ranks& ranks,
                      const Whole& whole) {
  if (!whole.may_forbid) return;  // every cost finite; masses are positive
  struct Side {
    bool rows;
    const char *name, *weight, *other;
    const Vector<T>& w;
    double rho;
  };
  VectorXd lse;
  for (const Side& side : {Side{true, "row", "a", "column", problem.a, problem.rho_a},
                           Side{false, "column", "b", "row", problem.b, problem.rho_b}}) {
    if (side.rho == 0) continue;
    // LSE over the other side of log(weight) - C: -inf exactly when nothing is admissible.
    const Vector<T>& other = side.rows ? problem.b : problem.a;
    const VectorXd log_other = other.template cast<double>().array().log();
    if (side.rows) {
      problem.geometry->lse_rows(log_other, 1.0, lse, threads);
    } else {
      problem.geometry->lse_cols(log_other, 1.0, lse, threads);
      ranks.log_sum_exp(lse.data(), int(lse.size()));
    }
    const Index offset = side.rows ? whole.offset : 0;
    agree(ranks, [&] {
      for (Index i = 0; i < lse.size(); ++i) {
        if (side.w[i] > 0 && lse[i] == -kInf) {
          const std::string at = std::to_string(offset + i);
          reject(std::string(side.name) + " " + at + " has weight " + side.weight + "(" + at +
                     ") = " + str(side.w[i]) + " but no admissible " + side.other +
                     ": every pair is forbidden (+inf cost) or meets a zero weight; allow a "
                     "pair, give it zero weight, or free the side (rho = 0)",
                 "cost", offset + i);
        }
      }
    });
  }
}

// n: this rank's rows, from row `offset` on.
void check_options(const SolverOptions& o, Index n, Index m, Index offset) {
  check_threads(o.threads);
  if (o.max_iterations < 1)
    reject("max_iterations is " + std::to_string(o.max_iterations) + ": it must be >= 1");
  if (!std::isfinite(o.tolerance) || o.tolerance < 0) {
    reject("tolerance is " + str(o.tolerance) +
           ": it must be finite and >= 0 (0 = the precision's default)");
  }
  if (o.check_every < 1)
    reject("check_every is " + std::to_string(o.check_every) + ": it must be >= 1");
  const EpsilonScaling& s = o.epsilon_scaling;
  if (!(s.factor > 0 && s.factor < 1)) {
    reject("epsilon_scaling.factor is " + str(s.factor) + ": it must be in (0, 1)");
  }
  if (!std::isfinite(s.initial_epsilon) || s.initial_epsilon < 0) {
    reject("epsilon_scaling.initial_epsilon is " + str(s.initial_epsilon) +
           ": it must be finite and >= 0 (0 = the cost range)");
  }
  if (!(o.acceleration.max_omega >= 1 && o.acceleration.max_omega < 2)) {
    reject("acceleration.max_omega is " + str(o.acceleration.max_omega) + ": it must be in [1, 2)");
  }
  if (!(o.acceleration.omega == 0 || (o.acceleration.omega >= 1 && o.acceleration.omega < 2))) {
    reject("acceleration.omega is " + str(o.acceleration.omega) +
           ": it must be in [1, 2), or 0 for the rule");
  }
  if (s.iterations_per_stage < 1) {
    reject("epsilon_scaling.iterations_per_stage is " + std::to_string(s.iterations_per_stage) +
           ": it must be >= 1");
  }
  for (const auto& [name, v, size, first] : {std::tuple{"initial_f", &o.initial_f, n, offset},
                                             std::tuple{"initial_g", &o.initial_g, m, Index(0)}}) {
    if (v->size() != 0 && v->size() != size) {
      reject(std::string(name) + " has " + std::to_string(v->size()) + " entries; expected " +
             std::to_string(size) + " (or none for a cold start)");
    }
    for (Index i = 0; i < v->size(); ++i) {
      if (!std::isfinite((*v)[i]))
        reject(std::string(name) + "(" + std::to_string(first + i) + ") is " + str((*v)[i]) +
               ": it must be finite");
    }
  }
}

// Every rule but the weights' entries and admissibility (which takes passes over the costs).
template <typename T>
void check_problem(const Problem<T>& problem, const SolverOptions& options, const Whole& whole) {
  check_mass("a", whole.mass_a);
  check_mass("b", whole.mass_b);
  if (!std::isfinite(problem.epsilon) || problem.epsilon <= 0) {
    reject("epsilon is " + str(problem.epsilon) + ": it must be positive and finite", "epsilon");
  }
  if (problem.epsilon < std::numeric_limits<double>::min()) {
    reject("epsilon is " + str(problem.epsilon) + ": it is below the smallest normal double (" +
           str(std::numeric_limits<double>::min()) + ")");
  }
  check_resolution(problem, whole);
  check_rho("rho_a", problem.rho_a);
  check_rho("rho_b", problem.rho_b);
  check_options(options, problem.n(), problem.m(), whole.offset);
  check_range(problem, options, whole);
  const double mass_a = whole.mass_a, mass_b = whole.mass_b;
  if (problem.rho_a == kInf && problem.rho_b == kInf) {
    // Equal up to the tolerance, and never stricter than the rounding of the sums (a caller
    // asking for a fixed iteration count sets a tiny tolerance).
    const double slack =
        std::max(effective_tolerance<T>(options), 100 * double(std::numeric_limits<T>::epsilon()));
    const double difference = mass_b - mass_a, mass = std::max(mass_a, mass_b);
    if (std::abs(difference) > slack * mass) {
      // Rounding to T alone moves a sum of k weights by up to about k unit roundoffs.
      const double rounding =
          double(whole.n + problem.m()) * std::numeric_limits<T>::epsilon() * mass;
      const bool in_float = std::is_same_v<T, float> && std::abs(difference) <= rounding;
      reject("balanced problem needs equal masses: sum(b) - sum(a) = " + str(difference) +
                 " (sum(a) = " + str(mass_a, 17) + ", sum(b) = " + str(mass_b, 17) +
                 "), more than " + str(slack) + " x the mass" +
                 (in_float ? "; rounding the weights to float alone explains that much (normalize "
                             "them in float, or use double)"
                           : "; normalize them, or relax a side with rho_a/rho_b"),
             "masses");
    }
  }
}

// Distributed: refuses inputs that every rank must share (m, b, epsilon, rho, the options,
// initial_g) but that differ between ranks: their largest and smallest value over ranks (b and
// initial_g by two sums). The columns' geometry itself (y) is not compared.
template <typename T>
void check_shared(const Problem<T>& p, const SolverOptions& o, const Ranks& ranks) {
  if (ranks.size() == 1) return;
  auto fingerprint = [](const auto& v) {  // the same vector gives the same bits on every rank
    double sum = 0, weighted = 0;
    for (Index j = 0; j < v.size(); ++j) {
      sum += double(v[j]);
      weighted += double(v[j]) * double(j + 1);
    }
    return std::pair{sum, weighted};
  };
  const auto [b_sum, b_weighted] = fingerprint(p.b);
  const auto [g_sum, g_weighted] = fingerprint(o.initial_g);
  const EpsilonScaling& e = o.epsilon_scaling;
  const Acceleration& x = o.acceleration;
  const std::vector<std::pair<const char*, double>> shared = {
      {"m (the columns)", double(p.m())},
      {"b", b_sum},
      {"b", b_weighted},
      {"epsilon", p.epsilon},
      {"rho_a", p.rho_a},
      {"rho_b", p.rho_b},
      {"tolerance", o.tolerance},
      {"max_iterations", double(o.max_iterations)},
      {"check_every", double(o.check_every)},
      {"epsilon_scaling.enabled", double(e.enabled)},
      {"epsilon_scaling.factor", e.factor},
      {"epsilon_scaling.initial_epsilon", e.initial_epsilon},
      {"epsilon_scaling.iterations_per_stage", double(e.iterations_per_stage)},
      {"acceleration.enabled", double(x.enabled)},
      {"acceleration.max_omega", x.max_omega},
      {"acceleration.omega", x.omega},
      {"domain", double(o.domain)},
      {"newton", double(o.newton)},
      {"initial_g", double(o.initial_g.size())},
      {"initial_g", g_sum},
      {"initial_g", g_weighted}};
  std::vector<double> high, low;
  for (const auto& [name, value] : shared) {
    high.push_back(value);
    low.push_back(-value);
  }
  ranks.max(high.data(), int(high.size()));
  ranks.max(low.data(), int(low.size()));
  for (std::size_t k = 0; k < shared.size(); ++k) {
    if (high[k] != -low[k]) {  // every value finite or inf by now: the checks came first
      reject(std::string("the ranks disagree on ") + shared[k].first +
                 ": every rank of a distributed solve must give the same columns (b), epsilon, "
                 "rho and options",
             "options");
    }
  }
}

}  // namespace

template <typename T>
Whole validate_whole(const Problem<T>& problem, const SolverOptions& options, const Ranks& ranks) {
  agree(ranks, [&] {
    if (!problem.geometry) reject("geometry: is null; a problem needs a cost", "cost");
  });
  agree(ranks, [&] {
    if (ranks.size() > 1 && (options.domain == Domain::Kernel || options.newton == NewtonMode::On))
      reject("a solve split over " + std::to_string(ranks.size()) +
             " processes runs in the log domain without the Newton stage; leave domain and "
             "newton at auto (or off)");
  });
  const Whole whole_problem = whole(problem, ranks);
  agree(ranks, [&] {  // each rank's entries first: what a single process would report first
    check_weights("a", problem.a, problem.n(), "rows", whole_problem.offset);
    check_weights("b", problem.b, problem.m(), "columns", 0);
  });
  agree(ranks, [&] { check_problem(problem, options, whole_problem); });
  check_shared(problem, options, ranks);  // the same verdict on every rank
  check_admissible(problem, options.threads, ranks, whole_problem);
  return whole_problem;
}
template Whole validate_whole(const Problem<float>&, const SolverOptions&, const Ranks&);
template Whole validate_whole(const Problem<double>&, const SolverOptions&, const Ranks&);

}  // namespace eot::detail

namespace eot {

template <typename T>
void validate(const Problem<T>& block, const SolverOptions& options, const Ranks& ranks) {
  detail::validate_whole(block, options, ranks);
}

template <typename T>
void validate(const Problem<T>& problem, const SolverOptions& options) {
  validate(problem, options, Ranks::single());
}

template void validate(const Problem<float>&, const SolverOptions&, const Ranks&);
template void validate(const Problem<double>&, const SolverOptions&, const Ranks&);
template void validate(const Problem<float>&, const SolverOptions&);
template void validate(const Problem<double>&, const SolverOptions&);

}  // namespace eot
