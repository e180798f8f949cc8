#include "eot/solver.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>

#include "detail/dual.hpp"
#include "detail/exp.hpp"
#include "detail/kernel_domain.hpp"
#include "detail/newton.hpp"
#include "eot/distributed.hpp"
#include "eot/error.hpp"
#include "eot/memory.hpp"
#include "eot/parallel.hpp"

namespace eot {

using Eigen::VectorXd;

const char* to_string(Status status) {
  switch (status) {
    case Status::Converged:
      return "converged";
    case Status::MaxIterationsReached:
      return "max_iterations";
    case Status::NumericalFailure:
      return "numerical_failure";
    case Status::StoppedByCallback:
      return "stopped";
    case Status::AbortedByCallback:
      return "aborted";
    case Status::Interrupted:
      return "interrupted";
    case Status::Stalled:
      return "stalled";
  }
  return "unknown";
}

const char* to_string(NewtonMode mode) {
  switch (mode) {
    case NewtonMode::Auto:
      return "auto";
    case NewtonMode::On:
      return "on";
    case NewtonMode::Off:
      return "off";
  }
  return "unknown";
}

NewtonMode newton_mode_from_string(const std::string& name) {
  for (NewtonMode mode : {NewtonMode::Auto, NewtonMode::On, NewtonMode::Off}) {
    if (name == to_string(mode)) return mode;
  }
  throw InvalidArgument("newton: unknown mode '" + name + "'; expected auto, on or off");
}

const char* to_string(Domain domain) {
  switch (domain) {
    case Domain::Auto:
      return "auto";
    case Domain::Log:
      return "log";
    case Domain::Kernel:
      return "kernel";
  }
  return "unknown";
}

Domain domain_from_string(const std::string& name) {
  for (Domain domain : {Domain::Auto, Domain::Log, Domain::Kernel}) {
    if (name == to_string(domain)) return domain;
  }
  throw InvalidArgument("domain: unknown domain '" + name + "'; expected auto, log or kernel");
}

template <typename T>
double effective_tolerance(const SolverOptions& options) {
  if (options.tolerance > 0) return options.tolerance;
  return std::is_same_v<T, float> ? 1e-5 : 1e-9;
}

namespace {

std::string str(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// Every digit a double has: two sums that differ show it.
std::string exact(double value) {
  std::ostringstream out;
  out.precision(17);
  out << value;
  return out.str();
}

[[noreturn]] void reject(const std::string& message, const std::string& field = "",
                         long long index = -1) {
  throw InvalidArgument(message, field, index);
}

// What the checks and the loop need of the whole problem when each rank holds a block of its
// rows (a single process: the problem itself).
struct Whole {
  Index n = 0;       // rows
  Index offset = 0;  // of this rank's first row
  double mass_a = 0, mass_b = 0;
  CostBounds bounds;  // known_cost_bounds() over every block
  bool may_forbid = false;
};

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
                 " (sum(a) = " + exact(mass_a) + ", sum(b) = " + exact(mass_b) + "), more than " +
                 str(slack) + " x the mass" +
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

// validate()'s rules on a block of rows; returns what the solve needs of the whole problem.
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

}  // namespace

template <typename T>
void validate(const Problem<T>& block, const SolverOptions& options, const Ranks& ranks) {
  validate_whole(block, options, ranks);
}

template <typename T>
void validate(const Problem<T>& problem, const SolverOptions& options) {
  validate(problem, options, Ranks::single());
}

namespace {

// One Sinkhorn run (its log-sum-exps from the log or the kernel domain). The potentials live in
// cost units, in double. Each half-step leaves behind the log-sum-exp it computed; while the
// other potential has not moved, that LSE also gives this side's marginal, so checks and final
// values reuse it instead of making another pass over the costs.
template <typename T>
class Sinkhorn {
 public:
  // `start`: when solve() was called; the reported time counts from there (validation and the
  // kernel's first exp pass included). `problem` is this rank's block of `whole`'s rows.
  Sinkhorn(const Problem<T>& problem, const SolverOptions& options,
           std::chrono::steady_clock::time_point start, const Ranks& ranks, const Whole& whole)
      : called_(start),
        p_(problem),
        o_(options),
        geometry_(*problem.geometry),
        ranks_(ranks),
        whole_(whole),
        a_(problem.a.template cast<double>()),
        b_(problem.b.template cast<double>()),
        log_a_(a_.array().log()),
        log_b_(b_.array().log()),
        mass_a_(whole.mass_a),
        mass_b_(whole.mass_b),
        tolerance_(effective_tolerance<T>(options)),
        choice_(distributed() ? DomainChoice{Domain::Log, 0, "log domain, nothing stored"}
                              : choose_domain(problem, options)),
        stop_(distributed() ? &agreed_stop_ : options.interrupt) {
    f_ = o_.initial_f.size() && p_.rho_a > 0 ? o_.initial_f : VectorXd::Zero(p_.n());
    g_ = o_.initial_g.size() && p_.rho_b > 0 ? o_.initial_g : VectorXd::Zero(p_.m());
    double aimed[] = {p_.rho_a > 0 ? detail::target(a_, f_, p_.rho_a).sum() : 0.0};
    ranks_.sum(aimed, 1);
    if (p_.rho_b > 0) threshold_ = tolerance_ * detail::target(b_, g_, p_.rho_b).sum();
    threshold_ = std::max(threshold_, tolerance_ * aimed[0]);
    if (choice_.domain == Domain::Kernel) kernel_.emplace(geometry_, a_, b_, o_.threads, stop_);
    if (o_.newton != NewtonMode::Off && p_.rho_a > 0 && p_.rho_b > 0 && !distributed()) {
      newton_.emplace(geometry_, detail::DualSide{a_, log_a_, p_.rho_a},
                      detail::DualSide{b_, log_b_, p_.rho_b}, p_.epsilon, o_.threads, stop_);
    }
  }

  Result run() {
    auto elapsed = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - called_).count();
    };
    Result result;
    const std::vector<double> stages = epsilon_stages();
    result.stages = int(stages.size());
    result.status = Status::MaxIterationsReached;
    int iterations = 0;
    for (std::size_t stage = 0; stage < stages.size(); ++stage) {
      set_epsilon(stages[stage]);
      const bool target = stage + 1 == stages.size();
      for (int in_stage = 1;; ++in_stage) {
        if (iterations == o_.max_iterations) {
          result.message = "reached max_iterations = " + std::to_string(o_.max_iterations) +
                           " before the marginal error fell to " + str(threshold_) +
                           "; raise max_iterations or the tolerance, or enable epsilon scaling";
          return finish(result, iterations, elapsed);
        }
        ++iterations;
        // The flag may turn true after the iteration's last update completed: then it counts.
        bool completed = false;
        const bool finite =
            newton_on_ ? newton_step(completed) : (completed = update_f() && update_g());
        if (interrupted())
          return finish_interrupted(result, completed ? iterations : iterations - 1, elapsed);
        if (!finite) {
          result.status = Status::NumericalFailure;
          result.message = "an update at iteration " + std::to_string(iterations) + " (epsilon " +
                           str(eps_) + ") produced a non-finite potential; the last finite " +
                           "potentials are returned";
          return finish(result, iterations, elapsed);
        }
        if (!target) {
          if (in_stage == o_.epsilon_scaling.iterations_per_stage) break;
          continue;
        }
        // The kernel takes over after one log-domain iteration at the target: K is first
        // absorbed at potentials that are roughly consistent, so few of its entries underflow.
        kernel_on_ = kernel_.has_value();
        // Check when due, at the last allowed iteration, or when both marginals are at hand.
        const bool free = (tau_a_ == 0 || row_current_) && (tau_b_ == 0 || col_current_);
        if (iterations % o_.check_every != 0 && iterations != o_.max_iterations && !free) continue;
        const Measure measured = measure();
        if (interrupted()) return finish_interrupted(result, iterations, elapsed);
        // What the solver decides by is the relative error; what it reports, the absolute one.
        const double error = measured.error, relative = measured.relative;
        threshold_ = tolerance_ * std::exp(measured.log_aimed);
        const bool overflow = !std::isfinite(error) || !std::isfinite(relative);
        if (overflow && omega_ > 1) {
          relax(relative, iterations);  // over-relaxation overflowed: back to where it began
          continue;
        }
        if (overflow) {
          result.status = Status::NumericalFailure;
          result.message = "the marginal error at iteration " + std::to_string(iterations) +
                           " is not finite (the plan overflows)";
          return finish(result, iterations, elapsed);
        }
        result.history.push_back({iterations, eps_, error});
        if (relative <= tolerance_) {
          result.status = Status::Converged;
          result.message = "converged in " + std::to_string(iterations) +
                           (iterations == 1 ? " iteration" : " iterations") + ": " +
                           describe_error(measured);
          return finish(result, iterations, elapsed);
        }
        if (o_.callback || distributed()) {
          const IterationInfo info{iterations, int(stage), int(stages.size()), eps_,
                                   error,      threshold_, elapsed(),          newton_steps_};
          // Distributed, the strongest action any rank's callback asks for (Abort over Stop over
          // Continue); a rank without a callback asks to continue.
          double asked = o_.callback ? double(o_.callback(info)) : 0.0;
          ranks_.max(&asked, 1);
          const CallbackAction action = CallbackAction(int(asked));
          if (action != CallbackAction::Continue) {
            const bool stop = action == CallbackAction::Stop;
            result.status = stop ? Status::StoppedByCallback : Status::AbortedByCallback;
            result.message = std::string(stop ? "stopped" : "aborted") +
                             " by the callback at iteration " + std::to_string(iterations) +
                             " with marginal error " + str(error);
            return finish(result, iterations, elapsed);
          }
        }
        relax(relative, iterations);
        // Stalled: Sinkhorn goes to Newton if it can; Newton stalls only at the floor.
        if (stalled(relative, iterations) && (newton_on_ || !start_newton())) {
          result.status = Status::Stalled;
          result.message = stall_message(iterations);
          return finish(result, iterations, elapsed);
        }
        if (newton_worth_it(relative, iterations)) start_newton();
        if (iterations - last_check_.iteration >= 2 * o_.check_every)  // a rate over 2-4 checks
          last_check_ = {iterations, relative, {}, {}};
      }
    }
    return result;  // not reached: the target stage only ends by returning
  }

 private:
  struct Measure {  // see measure()
    double error = 0, relative = 0;
    double log_aimed = -kInf;  // log max(sum t_a, sum t_b)
  };

  // epsilon_0 * factor^k while above the target, then the target. One stage if scaling is off
  // or a side is free (one update then solves the problem exactly).
  std::vector<double> epsilon_stages() const {
    std::vector<double> stages;
    const EpsilonScaling& s = o_.epsilon_scaling;
    if (s.enabled && p_.rho_a > 0 && p_.rho_b > 0) {
      double e = s.initial_epsilon > 0 ? s.initial_epsilon : whole_.bounds.range();
      for (; e > p_.epsilon; e *= s.factor) stages.push_back(e);
    }
    stages.push_back(p_.epsilon);
    return stages;
  }

  // At each check of the target stage. Plain iterations until two checks give the rate r, then
  // omega from it. Over-relaxed iterations may raise the error for a while before it falls
  // faster; they are judged against where they started: 10 times that error, or no progress
  // after max(5 checks, 2 / (1 - r)) iterations (what plain Sinkhorn needs to shrink the error
  // by e^2), and the solver goes back there with omega = 1, up to kMaxFallbacks times.
  void relax(double error, int iteration) {
    if (!o_.acceleration.enabled || fallbacks_ == kMaxFallbacks) return;
    if (omega_ == 1) {
      if (previous_.iteration > 0 && error < previous_.error) {
        const double rate =
            std::pow(error / previous_.error, 1.0 / (iteration - previous_.iteration));
        omega_ = o_.acceleration.omega > 0
                     ? o_.acceleration.omega
                     : std::min(o_.acceleration.max_omega, 2 / (1 + std::sqrt(1 - rate)));
        start_ = {iteration, error, f_, g_};
        patience_ = std::max(5.0 * o_.check_every, 2 / (1 - rate));
      }
      previous_ = {iteration, error, {}, {}};
      return;
    }
    const bool blew_up = !(error <= 10 * start_.error);
    const bool stalled = iteration - start_.iteration >= patience_ && error >= start_.error;
    if (blew_up || stalled) {
      f_ = start_.f;
      g_ = start_.g;
      row_current_ = col_current_ = false;
      omega_ = 1;
      ++fallbacks_;
      previous_ = {iteration, start_.error, {}, {}};  // the rate is measured afresh from here
      return;
    }
    if (iteration - previous_.iteration >= 2 * o_.check_every) {
      if (o_.acceleration.omega == 0 && error < previous_.error && error < start_.error)
        raise_omega(std::pow(error / previous_.error, 1.0 / (iteration - previous_.iteration)),
                    iteration, error);
      previous_ = {iteration, error, {}, {}};
    }
  }

  // Adaptive over-relaxation (Hageman and Young's adaptive SOR): the first plain rate is often
  // a transient, faster than the asymptotic one, which makes omega too small. The over-relaxed
  // rate lambda, measured over two checks or more, tells the plain one: while omega is below
  // the optimum (lambda > omega - 1), r = (lambda + omega - 1)^2 / (lambda omega^2). omega then
  // moves up to 2 / (1 + sqrt(1 - r)), from a new starting point for the fallback.
  void raise_omega(double lambda, int iteration, double error) {
    if (!(lambda > omega_ - 1)) return;
    const double rate = (lambda + omega_ - 1) * (lambda + omega_ - 1) / (lambda * omega_ * omega_);
    if (!(rate < 1)) return;
    const double next = std::min(o_.acceleration.max_omega, 2 / (1 + std::sqrt(1 - rate)));
    if (next <= omega_ + 0.01) return;
    omega_ = next;
    start_ = {iteration, error, f_, g_};
    patience_ = std::max(5.0 * o_.check_every, 2 / (1 - rate));
  }

  // One Newton step in place of a Sinkhorn iteration. A step that finds no ascent makes a
  // Sinkhorn iteration instead and leaves the Newton stage. False if an update is not finite;
  // `completed` says whether the potentials moved (not when interrupted).
  bool newton_step(bool& completed) {
    completed = false;
    if (!ensure_row_lse() || !ensure_col_lse()) return true;  // interrupted
    switch ((*newton_)(f_, g_, row_lse_, col_lse_)) {
      case detail::NewtonStep<T>::Outcome::Ascent:
        ++newton_steps_;
        completed = true;
        return true;
      case detail::NewtonStep<T>::Outcome::NoAscent:
        newton_on_ = false;
        ++newton_failures_;
        completed = update_f() && update_g();
        return completed || interrupted();
      case detail::NewtonStep<T>::Outcome::Interrupted:
        break;
    }
    return true;
  }

  // Auto: when the recent rate (over the last 2-4 checks) of the method in use says more than
  // kNewtonAfter iterations remain (10 times that in the kernel domain): once over-relaxation
  // has started, its own rate (plain Sinkhorn's, before, would undersell it). A rate not yet
  // below 1 is left to the stall detector. On: at the first check at the target.
  bool newton_worth_it(double relative, int iteration) const {
    if (newton_on_ || !newton_ || o_.newton == NewtonMode::Off) return false;
    if (o_.newton == NewtonMode::On) return newton_failures_ == 0;
    const bool relaxing = o_.acceleration.enabled && fallbacks_ < kMaxFallbacks;
    if (relaxing && (omega_ == 1 || last_check_.iteration < start_.iteration)) return false;
    const Checkpoint& from = last_check_;
    if (from.iteration == 0 || iteration - from.iteration < 2 * o_.check_every) return false;
    const double rate = std::pow(relative / from.error, 1.0 / (iteration - from.iteration));
    // A Newton step costs a few passes over the costs with exps; a kernel-domain iteration is
    // two matrix-vector products, about ten times cheaper than a log-domain one.
    const double after = kernel_on_ ? 10.0 * kNewtonAfter : kNewtonAfter;
    return rate < 1 && std::log(tolerance_ / relative) / std::log(rate) > after;
  }

  // Switches to Newton steps, if there are any left to try. Over-relaxation ends for good.
  bool start_newton() {
    if (!newton_ || newton_failures_ == kMaxNewtonFailures) return false;
    newton_on_ = true;
    omega_ = 1;
    fallbacks_ = kMaxFallbacks;
    best_ = {};
    return true;
  }

  // The stall detector: no new lowest error (by 1%) for five times what the rate from the first
  // check at the target to the lowest error takes to halve it, and at least 20 checks.
  bool stalled(double error, int iteration) {
    if (first_.iteration == 0) first_ = {iteration, error, {}, {}};
    if (best_.iteration == 0 || error < 0.99 * best_.error) {
      best_ = {iteration, error, {}, {}};
      return false;
    }
    double window = 20.0 * (newton_on_ ? 1 : o_.check_every);  // Newton checks every step
    if (best_.iteration > first_.iteration && best_.error < first_.error) {
      const double rate =
          std::pow(best_.error / first_.error, 1.0 / (best_.iteration - first_.iteration));
      window = std::max(window, 5 * std::log(0.5) / std::log(rate));
    }
    return iteration - best_.iteration > window;
  }

  std::string stall_message(int iteration) const {
    const double unit = std::numeric_limits<T>::epsilon() / 2;
    const double resolution = whole_.bounds.magnitude() / p_.epsilon;
    return "stalled at iteration " + std::to_string(iteration) + ": the relative marginal " +
           "error has not fallen below " + str(best_.error) + " (reached at iteration " +
           std::to_string(best_.iteration) + ") since; the rounding of " +
           (std::is_same_v<T, float> ? "float" : "double") +
           " at |C| / epsilon = " + str(resolution) + " puts a floor near " +
           str(unit * resolution) + " (the tolerance asks for " + str(tolerance_) +
           "); raise epsilon or the tolerance" +
           (std::is_same_v<T, float> ? ", or use double" : "");
  }

  // "marginal error 3e-10 <= 1e-09", relative to the aimed mass where that underflows.
  std::string describe_error(const Measure& m) const {
    if (std::exp(m.log_aimed) > std::numeric_limits<double>::min() * 1e20)
      return "marginal error " + str(m.error) + " <= " + str(threshold_);
    return "marginal error " + str(m.relative) +
           " x the mass the marginals aim at <= " + str(tolerance_) + " x it (that mass, exp(" +
           str(m.log_aimed) + "), is below what double holds)";
  }

  void set_epsilon(double epsilon) {
    eps_ = epsilon;
    tau_a_ = damping(p_.rho_a, eps_);
    tau_b_ = damping(p_.rho_b, eps_);
    row_current_ = col_current_ = false;
  }

  bool interrupted() const { return stop_ && stop_->load(std::memory_order_relaxed); }

  bool distributed() const { return ranks_.size() > 1; }

  // Distributed, the ranks stop together: at each half-step each rank's own interrupt flag is
  // combined into the one the solve watches (stop_), which changes nowhere else. Also makes
  // one verdict of each rank's `ok` (e.g. its rows' update is finite): true if every rank's is.
  bool agree(bool ok = true) {
    if (!distributed()) return ok;
    double flags[] = {o_.interrupt && o_.interrupt->load(std::memory_order_relaxed) ? 1.0 : 0.0,
                      ok ? 0.0 : 1.0};
    ranks_.max(flags, 2);
    if (flags[0] > 0) agreed_stop_ = true;
    return flags[1] == 0;
  }

  // f_i <- -tau_a epsilon LSE_j [log b_j + (g_j - C_ij) / epsilon]. False if the result is not
  // finite or the pass was interrupted; f is then unchanged.
  bool update_f() {
    if (tau_a_ == 0) return true;  // a free side keeps f = 0
    VectorXd next;
    if (!ensure_row_lse() || !agree(damped_update(row_lse_, tau_a_, f_, next))) return false;
    f_.swap(next);
    col_current_ = false;
    return true;
  }

  bool update_g() {
    if (tau_b_ == 0) return true;
    VectorXd next;
    if (!ensure_col_lse() || !damped_update(col_lse_, tau_b_, g_, next)) return false;
    g_.swap(next);
    row_current_ = false;
    return true;
  }

  // The potential's update, into `next`: -tau epsilon lse, an entry whose LSE is empty (a
  // zero-weight row or column with no admissible pair) getting 0; with over-relaxation, omega
  // times as far from `potential`. False if an entry is not finite: the caller then keeps the
  // potential. (Distributed, f's update can be finite on one rank and not on another:
  // update_f agrees on it before any rank moves. g's is the same on every rank, as is its
  // column LSE.)
  bool damped_update(const VectorXd& lse, double tau, const VectorXd& potential,
                     VectorXd& next) const {
    next = (lse.array() == -kInf).select(0.0, -tau * eps_ * lse.array());
    if (omega_ != 1) next = potential + omega_ * (next - potential);
    return next.allFinite();
  }

  // False if the pass was interrupted (its output is then not kept). Distributed, each rank's
  // rows are its own; a column's LSE over all rows merges every rank's LSE over its rows.
  bool ensure_row_lse() {
    if (!row_current_) {
      if (!kernel_lse(true))
        geometry_.lse_rows(log_b_ + g_ / eps_, eps_, row_lse_, o_.threads, stop_);
      agree();
      row_current_ = !interrupted();
    }
    return row_current_;
  }

  bool ensure_col_lse() {
    if (!col_current_) {
      if (!kernel_lse(false)) {
        geometry_.lse_cols(log_a_ + f_ / eps_, eps_, col_lse_, o_.threads, stop_);
        ranks_.log_sum_exp(col_lse_.data(), int(col_lse_.size()));
      }
      agree();
      col_current_ = !interrupted();
    }
    return col_current_;
  }

  // The row (or column) LSE from the kernel, absorbed again first if it cannot give it. False
  // if the kernel is not in use or still cannot (the caller makes a log-domain pass). The
  // kernel is given up when it costs more than it saves: more than 3 such failures, or an
  // absorption for more than every other pass.
  bool kernel_lse(bool rows) {
    if (!kernel_on_ || eps_ != p_.epsilon) return false;
    auto pass = [&] {
      return rows ? kernel_->lse_rows(g_, row_lse_) : kernel_->lse_cols(f_, col_lse_);
    };
    ++kernel_passes_;
    if (pass() || (kernel_->absorb(f_, g_, eps_) && pass())) {
      if (kernel_passes_ >= 10 && 2 * kernel_->absorptions() > kernel_passes_) drop_kernel();
      return true;
    }
    if (++kernel_failures_ > 3) drop_kernel();
    return false;
  }

  void record_domain(Result& result) const {
    result.domain = kernel_on_ ? "kernel" : "log";
    result.absorptions = kernel_ ? kernel_->absorptions() : absorptions_;
    result.kernel_bytes = choice_.kernel_bytes;
  }

  void drop_kernel() {
    absorptions_ = kernel_->absorptions();
    kernel_.reset();
    kernel_on_ = false;
  }

  // r = P 1 and c = P^T 1 of the current potentials (meaningless if interrupted).
  VectorXd row_marginal() {
    ensure_row_lse();
    return detail::marginal(log_a_, f_, row_lse_, eps_);
  }
  VectorXd col_marginal() {
    ensure_col_lse();
    return detail::marginal(log_b_, g_, col_lse_, eps_);
  }

  // The marginal error |r - t_a|_1 + |c - t_b|_1 (free sides left out), and the same relative
  // to the mass the marginals aim at, max(sum t_a, sum t_b): the stopping test. Both are summed
  // from exp(log value - shift), shift the largest log-marginal or log-target, so the relative
  // error stays exact when the optimal plan's mass underflows (an unbalanced problem with
  // costs far above epsilon), where the absolute one is 0.
  // Distributed, the row side's shares are summed over ranks (the column side's are the same on
  // every rank).
  Measure measure() {
    std::vector<LogSide> sides;
    if (p_.rho_a > 0) sides.push_back(log_side(true));
    if (p_.rho_b > 0) sides.push_back(log_side(false));
    if (interrupted()) return {};
    double shift = -kInf;
    for (const LogSide& side : sides)
      shift = std::max({shift, side.marginal.maxCoeff(), side.target.maxCoeff()});
    ranks_.max(&shift, 1);
    Measure out;
    if (!std::isfinite(shift)) return out;
    // Each side's error and aimed mass, relative to exp(shift).
    double shares[2][2] = {};
    for (std::size_t k = 0; k < sides.size(); ++k) {
      const Eigen::ArrayXd target = detail::exp_or_zero(sides[k].target - shift);
      shares[k][0] = (detail::exp_or_zero(sides[k].marginal - shift) - target).abs().sum();
      shares[k][1] = target.sum();
    }
    if (p_.rho_a > 0) ranks_.sum(shares[0], 2);
    double error = 0, aimed = 0;
    for (std::size_t k = 0; k < sides.size(); ++k) {
      error += shares[k][0];
      aimed = std::max(aimed, shares[k][1]);
    }
    out.error = error * std::exp(shift);
    out.relative = error / aimed;
    out.log_aimed = std::log(aimed) + shift;
    return out;
  }

  // A side's log r (log c) and log t_a (log t_b).
  struct LogSide {
    Eigen::ArrayXd marginal, target;
  };
  LogSide log_side(bool rows) {
    if (rows ? !ensure_row_lse() : !ensure_col_lse()) return {};  // interrupted
    const VectorXd& log_w = rows ? log_a_ : log_b_;
    const VectorXd& potential = rows ? f_ : g_;
    const double rho = rows ? p_.rho_a : p_.rho_b;
    return {log_w.array() + potential.array() / eps_ + (rows ? row_lse_ : col_lse_).array(),
            log_w.array() - (rho == kInf ? 0.0 : 1 / rho) * potential.array()};
  }

  // rho KL(x | w) for a soft side, 0 for a hard or free one.
  static double penalty(const VectorXd& x, const VectorXd& w, double rho) {
    if (rho == kInf || rho == 0) return 0;
    const Eigen::ArrayXd terms =
        (x.array() > 0).select(x.array() * (x.array() / w.array()).log(), 0.0);
    return rho * (terms - x.array() + w.array()).sum();
  }

  template <typename Elapsed>
  Result finish_interrupted(Result& result, int completed, Elapsed elapsed) {
    result.status = Status::Interrupted;
    result.message = "interrupted after " + std::to_string(completed) +
                     " iterations; f and g are the potentials of the last completed update";
    result.iterations = completed;
    result.newton_steps = newton_steps_;
    record_domain(result);
    describe_problem(result);
    result.solve_time_seconds = elapsed();
    return result;
  }

  template <typename Elapsed>
  Result finish(Result& result, int iterations, Elapsed elapsed) {
    result.iterations = iterations;
    result.newton_steps = newton_steps_;
    result.omega = omega_;
    record_domain(result);
    if (eps_ != p_.epsilon) set_epsilon(p_.epsilon);  // ended during an epsilon-scaling stage
    if (!evaluate(result)) {
      // Potentials far from consistent (an epsilon-scaling stage, a failed update) can make
      // the plan overflow. One f-update at the target bounds every row of the plan by a_i.
      result.status = Status::NumericalFailure;
      if (tau_a_ > 0 && update_f() && evaluate(result)) {
        result.message += "; the final values overflowed, so f was updated once more";
      } else {
        result.message += "; the final values overflow: " + zero_non_finite(result);
      }
    }
    if (interrupted()) return finish_interrupted(result, iterations, elapsed);
    describe_problem(result);
    result.solve_time_seconds = elapsed();
    return result;
  }

  // The values of docs/conventions.md, "Reported values" for the current potentials; false if one
  // is not finite.
  // Distributed, the sums over rows are summed over ranks, and the row marginal gathered.
  bool evaluate(Result& result) {
    const VectorXd r = row_marginal(), c = col_marginal();
    if (interrupted()) return true;
    result.marginal_error = measure().error;
    // The sums over this rank's rows: mass, <P, C>, <r, f>, the row penalty and conjugate term,
    // and <r, log a> (over r > 0) for the entropy.
    double rows[] = {r.sum(),
                     geometry_.transport_cost(p_.log_row_factor(f_), p_.log_col_factor(g_),
                                              p_.epsilon, o_.threads),
                     r.dot(f_),
                     penalty(r, a_, p_.rho_a),
                     detail::conjugate_term(a_, f_, p_.rho_a),
                     (r.array() > 0).select(r.array() * log_a_.array(), 0.0).sum()};
    ranks_.sum(rows, 6);
    const auto& [mass, transport_cost, rf, row_penalty, row_conjugate, r_log_a] = rows;
    result.mass = mass;
    result.transport_cost = transport_cost;
    const double cg = c.dot(g_);
    const double mass_term = p_.epsilon * (result.mass - mass_a_ * mass_b_);
    result.primal = rf + cg - mass_term + row_penalty + penalty(c, b_, p_.rho_b);
    result.dual = row_conjugate + detail::conjugate_term(b_, g_, p_.rho_b) - mass_term;
    result.gap = result.primal - result.dual;
    // -sum P log P with log P_ij = log a_i + log b_j + (f_i + g_j - C_ij) / epsilon.
    const double c_log_b = (c.array() > 0).select(c.array() * log_b_.array(), 0.0).sum();
    result.entropy = -(r_log_a + c_log_b + (rf + cg - result.transport_cost) / p_.epsilon);
    result.row_marginal = gather_rows(r);
    result.col_marginal = c;
    const auto vs = values(result);
    return std::all_of(vs.begin(), vs.end(), [](const double* v) { return std::isfinite(*v); }) &&
           result.row_marginal.allFinite() && c.allFinite();
  }

  static std::array<double*, 7> values(Result& r) {
    return {&r.marginal_error, &r.mass, &r.transport_cost, &r.primal, &r.dual, &r.entropy, &r.gap};
  }

  // The last resort of the no-NaN, no-inf promise: names what overflowed and reports it as 0.
  static std::string zero_non_finite(Result& r) {
    static const char* const names[] = {
        "marginal_error", "mass", "transport_cost", "primal", "dual", "entropy", "gap"};
    std::string which;
    const auto vs = values(r);
    for (std::size_t k = 0; k < vs.size(); ++k) {
      if (std::isfinite(*vs[k])) continue;
      which += (which.empty() ? "" : ", ") + std::string(names[k]);
      *vs[k] = 0;
    }
    for (auto [name, v] :
         {std::pair{"row_marginal", &r.row_marginal}, {"col_marginal", &r.col_marginal}}) {
      if (v->allFinite()) continue;
      which += (which.empty() ? "" : ", ") + std::string(name);
      *v = v->unaryExpr([](double x) { return std::isfinite(x) ? x : 0.0; });
    }
    return which + " (reported as 0)";
  }

  // The potentials and what the result says about the problem.
  void describe_problem(Result& result) const {
    result.f = gather_rows(f_);
    result.g = g_;
    result.geometry = describe_whole();
    result.ranks = ranks_.size();
    result.regime = p_.regime();
    result.precision = std::is_same_v<T, float> ? "float" : "double";
    result.n = whole_.n;
    result.m = p_.m();
    result.epsilon = p_.epsilon;
    result.rho_a = p_.rho_a;
    result.rho_b = p_.rho_b;
    result.tolerance = effective_tolerance<T>(o_);
  }

  // Every rank's entries of a vector over rows, in rank order.
  VectorXd gather_rows(const VectorXd& local) const {
    if (!distributed()) return local;
    const std::vector<double> all =
        ranks_.all_gather(std::vector<double>(local.data(), local.data() + local.size()));
    return Eigen::Map<const VectorXd>(all.data(), Index(all.size()));
  }

  // The geometry's description with the whole problem's row count ("point cloud 20000 x ...",
  // where this rank's block has fewer rows), as rank 0 describes its block.
  std::string describe_whole() const {
    std::string text = ranks_.broadcast(geometry_.describe(), 0);
    if (!distributed()) return text;
    const std::string rows = ranks_.broadcast(std::to_string(p_.n()), 0) + " x ";
    const std::size_t at = text.find(rows);
    if (at == std::string::npos) return text + " (rank 0's rows)";
    return text.replace(at, rows.size(), std::to_string(whole_.n) + " x ");
  }

  const std::chrono::steady_clock::time_point called_;
  const Problem<T>& p_;
  const SolverOptions& o_;
  const Geometry<T>& geometry_;
  const Ranks& ranks_;
  const Whole whole_;
  const VectorXd a_, b_, log_a_, log_b_;
  const double mass_a_, mass_b_;
  const double tolerance_;  // relative to the aimed mass
  double threshold_ = 0;    // in mass: tolerance_ times the aimed mass, as of the last check
  const DomainChoice choice_;
  // What the passes and the loop watch for an interrupt: options.interrupt, or, distributed, the
  // flag agree() sets when any rank's is set.
  std::atomic<bool> agreed_stop_{false};
  const std::atomic<bool>* stop_;
  VectorXd f_, g_;
  double eps_ = 0, tau_a_ = 1, tau_b_ = 1;
  // row_lse_ is valid for the current g when row_current_, col_lse_ for the current f.
  VectorXd row_lse_, col_lse_;
  bool row_current_ = false, col_current_ = false;
  // Over-relaxation: the previous plain check, and the state where omega > 1 began.
  struct Checkpoint {
    int iteration = 0;
    double error = 0;
    VectorXd f, g;
  };
  double omega_ = 1, patience_ = 0;
  int fallbacks_ = 0;
  static constexpr int kMaxFallbacks = 3;
  Checkpoint previous_, start_;
  Checkpoint last_check_;  // a check at the target 2-4 checks back: its relative error
  // Kernel domain: present if chosen, on from the second target-epsilon iteration.
  std::optional<detail::KernelDomain<T>> kernel_;
  bool kernel_on_ = false;
  int kernel_passes_ = 0, kernel_failures_ = 0, absorptions_ = 0;
  // Newton stage: present unless off or a side is free; on once switched to.
  std::optional<detail::NewtonStep<T>> newton_;
  bool newton_on_ = false;
  int newton_steps_ = 0, newton_failures_ = 0;
  static constexpr int kMaxNewtonFailures = 2;
  // Stall detector: the first check at the target, and the lowest error since.
  Checkpoint first_, best_;
};

}  // namespace

template <typename T>
DomainChoice choose_domain(const Problem<T>& problem, const SolverOptions& options) {
  DomainChoice choice;
  if (options.domain == Domain::Log) {
    choice.reason = "log domain (asked for), nothing stored";
    return choice;
  }
  if (problem.rho_a == 0 || problem.rho_b == 0) {
    choice.reason = "log domain (a side is free: one update solves it), nothing stored";
    return choice;
  }
  const Geometry<T>& geometry = *problem.geometry;
  const double kernel = detail::KernelDomain<T>::bytes(problem.n(), problem.m());
  if (options.domain == Domain::Kernel) {
    require_dense_fits(problem.n(), problem.m(), kernel / (double(problem.n()) * problem.m()),
                       "the kernel-domain solver's kernel",
                       "use the log domain (Domain::Log), or raise the memory limit",
                       options.memory_limit, geometry.bytes());
  } else {
    // Auto: within the memory limit beside the geometry, or by default within max(the costs'
    // own size, 256 MB) and a quarter of the available memory. A kernel of at most 1 MB is
    // stored without asking the system (asking takes 20 us, a 64 x 64 solve about 150).
    const double max_default = std::max(geometry.bytes(), 256.0 * (1 << 20));
    const double budget =
        options.memory_limit > 0    ? memory_budget(options.memory_limit) - geometry.bytes()
        : kernel <= double(1 << 20) ? max_default
                                    : std::min(max_default, double(available_memory()) / 4);
    if (!(kernel <= budget)) {
      choice.reason = "log domain, nothing stored (K would take " + format_bytes(kernel) +
                      ", over the kernel budget of " + format_bytes(std::max(budget, 0.0)) + ")";
      return choice;
    }
  }
  choice.domain = Domain::Kernel;
  choice.kernel_bytes = kernel;
  choice.reason = "kernel domain, K takes " + format_bytes(kernel);
  return choice;
}

template <typename T>
Result solve(const Problem<T>& block, const SolverOptions& options, const Ranks& ranks) {
  const auto start = std::chrono::steady_clock::now();
  const Whole whole = validate_whole(block, options, ranks);
  return Sinkhorn<T>(block, options, start, ranks, whole).run();
}

template <typename T>
Result solve(const Problem<T>& problem, const SolverOptions& options) {
  return solve(problem, options, Ranks::single());
}

template void validate(const Problem<float>&, const SolverOptions&, const Ranks&);
template void validate(const Problem<double>&, const SolverOptions&, const Ranks&);
template Result solve(const Problem<float>&, const SolverOptions&, const Ranks&);
template Result solve(const Problem<double>&, const SolverOptions&, const Ranks&);
template void validate(const Problem<float>&, const SolverOptions&);
template void validate(const Problem<double>&, const SolverOptions&);
template Result solve(const Problem<float>&, const SolverOptions&);
template Result solve(const Problem<double>&, const SolverOptions&);
template DomainChoice choose_domain(const Problem<float>&, const SolverOptions&);
template DomainChoice choose_domain(const Problem<double>&, const SolverOptions&);
template double effective_tolerance<float>(const SolverOptions&);
template double effective_tolerance<double>(const SolverOptions&);

}  // namespace eot
