#include "eot/solver.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <optional>

#include "detail/dual.hpp"
#include "detail/exp.hpp"
#include "detail/kernel_domain.hpp"
#include "detail/newton.hpp"
#include "detail/relaxation.hpp"
#include "detail/shift.hpp"
#include "detail/text.hpp"
#include "detail/validation.hpp"
#include "detail/values.hpp"
#include "eot/distributed.hpp"
#include "eot/error.hpp"
#include "eot/memory.hpp"
#include "eot/parallel.hpp"

namespace eot {

using detail::str;
using detail::Whole;
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
  return from_name(kNewtonModes, name, "newton", "mode");
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
  return from_name(kDomains, name, "domain", "domain");
}

template <typename T>
double effective_tolerance(const SolverOptions& options) {
  if (options.tolerance > 0) return options.tolerance;
  return std::is_same_v<T, float> ? 1e-5 : 1e-9;
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
  // `shift`: the costs `problem` holds are the caller's minus shift.by, and the shifted side's
  // potential is kept minus shift.by too (lib/detail/shift.hpp).
  Sinkhorn(const Problem<T>& problem, const SolverOptions& options,
           std::chrono::steady_clock::time_point start, const Ranks& ranks, const Whole& whole,
           const detail::CostShift& shift)
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
        stop_(distributed() ? &agreed_stop_ : options.interrupt),
        relaxation_(options.acceleration, options.check_every),
        shift_(shift),
        f_shift_(shift.any() && shift.rows ? shift.by : VectorXd::Zero(problem.n())),
        g_shift_(shift.any() && !shift.rows ? shift.by : VectorXd::Zero(problem.m())) {
    // Without a warm start, a shifted side starts at its minima (f' = 0).
    f_ = o_.initial_f.size() && p_.rho_a > 0 ? VectorXd(o_.initial_f - f_shift_)
                                             : VectorXd::Zero(p_.n());
    g_ = o_.initial_g.size() && p_.rho_b > 0 ? VectorXd(o_.initial_g - g_shift_)
                                             : VectorXd::Zero(p_.m());
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

  // The loop, one for every regime (tau does the rest): for each epsilon stage, iterations of
  // an f-update then a g-update (or one Newton step); at the target, a check when due.
  Result run() {
    const std::vector<double> stages = epsilon_stages();
    stages_ = int(stages.size());
    int iteration = 0;
    for (int stage = 0; stage < stages_; ++stage) {
      set_epsilon(stages[stage]);
      const bool target = stage + 1 == stages_;
      const int length = o_.epsilon_scaling.iterations_per_stage;
      for (int in_stage = 1; target || in_stage <= length; ++in_stage) {
        if (iteration == o_.max_iterations) return finish(out_of_budget(), iteration);
        ++iteration;
        // The flag may turn true after the iteration's last update completed: then it counts.
        bool completed = false;
        const bool finite =
            newton_on_ ? newton_step(completed) : (completed = update_f() && update_g());
        if (interrupted()) return finish_interrupted(completed ? iteration : iteration - 1);
        if (!finite) return finish(not_finite(iteration), iteration);
        if (!target) continue;
        // The kernel takes over after one log-domain iteration at the target: K is first
        // absorbed at potentials that are roughly consistent, so few of its entries underflow.
        kernel_on_ = kernel_.has_value();
        // Check when due, at the last allowed iteration, or when both marginals are at hand.
        const bool free = (tau_a_ == 0 || row_current_) && (tau_b_ == 0 || col_current_);
        if (iteration % o_.check_every != 0 && iteration != o_.max_iterations && !free) continue;
        if (std::optional<Ending> end = check(iteration, stage)) return finish(*end, iteration);
      }
      if (std::optional<Ending> end = stage_done(iteration, stage)) return finish(*end, iteration);
    }
    return finish({}, iteration);  // not reached: the target stage only ends by returning
  }

 private:
  struct Measure {  // see measure()
    double error = 0, relative = 0;
    double log_aimed = -kInf;  // log max(sum t_a, sum t_b)
  };

  // How a solve ends, before its values are evaluated.
  struct Ending {
    Status status = Status::MaxIterationsReached;
    std::string message;
  };

  // A check at the target. In order: an overflow, convergence, the callback, over-relaxation's
  // verdict, the stall detector, the switch to Newton. An Ending if the solve ends here.
  std::optional<Ending> check(int iteration, int stage) {
    const Measure measured = measure();
    if (interrupted()) return Ending{Status::Interrupted, ""};
    // What the solver decides by is the relative error; what it reports, the absolute one.
    const double error = measured.error, relative = measured.relative;
    threshold_ = tolerance_ * std::exp(measured.log_aimed);
    if (!std::isfinite(error) || !std::isfinite(relative)) {
      // Over-relaxation overflowed: back to where it began. Else the plan itself overflows.
      if (relaxation_.omega() > 1) {
        relax(relative, iteration);
        return {};
      }
      return Ending{Status::NumericalFailure, "the marginal error at iteration " +
                                                  std::to_string(iteration) +
                                                  " is not finite (the plan overflows)"};
    }
    const IterationInfo info = iteration_info(iteration, stage, error);
    history_.push_back(info);
    if (relative <= tolerance_) {
      return Ending{Status::Converged, "converged in " + std::to_string(iteration) +
                                           (iteration == 1 ? " iteration" : " iterations") + ": " +
                                           describe_error(measured)};
    }
    if (std::optional<Ending> end = ask_callback(info)) return end;
    relax(relative, iteration);
    // Stalled: Sinkhorn goes to Newton if it can; Newton stalls only at the floor.
    if (stalled(relative, iteration) && (newton_on_ || !start_newton()))
      return Ending{Status::Stalled, stall_message(iteration)};
    if (newton_worth_it(relative, iteration)) start_newton();
    if (iteration - last_check_.iteration >= 2 * o_.check_every)  // a rate over 2-4 checks
      last_check_ = {iteration, relative};
    return {};
  }

  // The end of an epsilon-scaling stage: the callback (if any) sees the stage's marginal error.
  std::optional<Ending> stage_done(int iteration, int stage) {
    if (stage + 1 == stages_ || !(o_.callback || distributed())) return {};
    const Measure measured = measure();
    if (interrupted()) return Ending{Status::Interrupted, ""};
    threshold_ = tolerance_ * std::exp(measured.log_aimed);
    return ask_callback(iteration_info(iteration, stage, measured.error));
  }

  IterationInfo iteration_info(int iteration, int stage, double error) const {
    return {iteration, stage, stages_, eps_, error, threshold_, elapsed(), newton_steps_};
  }

  // The callback's verdict. Distributed, the strongest action any rank's callback asks for
  // (Abort over Stop over Continue); a rank without a callback asks to continue.
  std::optional<Ending> ask_callback(const IterationInfo& info) {
    if (!o_.callback && !distributed()) return {};
    double asked = o_.callback ? double(o_.callback(info)) : 0.0;
    ranks_.max(&asked, 1);
    const CallbackAction action = CallbackAction(int(asked));
    if (action == CallbackAction::Continue) return {};
    const bool stop = action == CallbackAction::Stop;
    return Ending{stop ? Status::StoppedByCallback : Status::AbortedByCallback,
                  std::string(stop ? "stopped" : "aborted") + " by the callback at iteration " +
                      std::to_string(info.iteration) + " with marginal error " +
                      str(info.marginal_error)};
  }

  // Over-relaxation's verdict at a check; a fallback restores where it began.
  void relax(double relative, int iteration) {
    using Verdict = detail::OverRelaxation::Verdict;
    if (relaxation_.on_check(relative, iteration, f_, g_) == Verdict::Restore) {
      f_ = relaxation_.restore_f();
      g_ = relaxation_.restore_g();
      row_current_ = col_current_ = false;
    }
  }

  Ending out_of_budget() const {
    return {Status::MaxIterationsReached,
            "reached max_iterations = " + std::to_string(o_.max_iterations) +
                " before the marginal error fell to " + str(threshold_) +
                "; raise max_iterations or the tolerance, or enable epsilon scaling"};
  }

  Ending not_finite(int iteration) const {
    return {Status::NumericalFailure,
            "an update at iteration " + std::to_string(iteration) + " (epsilon " + str(eps_) +
                ") produced a non-finite potential; the last finite potentials are returned"};
  }

  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - called_).count();
  }

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
    if (relaxation_.unsettled_since(last_check_.iteration)) return false;
    const Point& from = last_check_;
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
    relaxation_.end();
    best_ = {};
    return true;
  }

  // The stall detector: no new lowest error (by 1%) for five times what the rate from the first
  // check at the target to the lowest error takes to halve it, and at least 20 checks.
  bool stalled(double error, int iteration) {
    if (first_.iteration == 0) first_ = {iteration, error};
    if (best_.iteration == 0 || error < 0.99 * best_.error) {
      best_ = {iteration, error};
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
    const double omega = relaxation_.omega();
    if (omega != 1) next = potential + omega * (next - potential);
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

  // The result of a solve that ends at `iteration`, its values evaluated at the target epsilon.
  Result finish(Ending end, int iteration) {
    if (end.status == Status::Interrupted) return finish_interrupted(iteration);
    Result result;
    result.status = end.status;
    result.message = std::move(end.message);
    result.iterations = iteration;
    result.omega = relaxation_.omega();
    if (shift_.any()) {
      result.message += std::string("; ") + (shift_.rows ? "f" : "g") +
                        " kept relative to the costs' " + (shift_.rows ? "row" : "column") +
                        " minima (largest " + detail::str(shift_.by.cwiseAbs().maxCoeff(), 3) +
                        ", epsilon " + detail::str(p_.epsilon, 3) + ")";
    }
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
    if (interrupted()) return finish_interrupted(iteration);
    describe(result);
    return result;
  }

  // An interrupted solve's result: f, g and the problem only.
  Result finish_interrupted(int completed) {
    Result result;
    result.status = Status::Interrupted;
    result.message = "interrupted after " + std::to_string(completed) +
                     " iterations; f and g are the potentials of the last completed update";
    result.iterations = completed;
    describe(result);
    return result;
  }

  // The values of docs/conventions.md, "Reported values" for the current potentials (lib/
  // detail/values.hpp); false if one is not finite. Distributed, the sums over rows are summed
  // over ranks, and the row marginal gathered.
  bool evaluate(Result& result) {
    const VectorXd r = row_marginal(), c = col_marginal();
    if (interrupted()) return true;
    result.marginal_error = measure().error;
    detail::SideSums rows = detail::side_sums(r, f_, a_, log_a_, p_.rho_a);
    ranks_.sum(rows.data(), detail::SideSums::kCount);
    result.transport_cost = geometry_.transport_cost(p_.log_row_factor(f_), p_.log_col_factor(g_),
                                                     p_.epsilon, o_.threads);
    ranks_.sum(&result.transport_cost, 1);
    const detail::Values v = detail::values(rows, detail::side_sums(c, g_, b_, log_b_, p_.rho_b),
                                            result.transport_cost, p_.epsilon, mass_a_, mass_b_);
    result.mass = rows.mass;
    result.primal = v.primal;
    result.dual = v.dual;
    result.gap = v.gap;
    result.entropy = v.entropy;
    if (shift_.any()) {
      // The values of the caller's costs: <P, C> and <r, f> (or <c, g>) gain <u, r>, the hard
      // side's <w, f> gains <u, w> (lib/detail/shift.hpp); the entropy is unchanged.
      const VectorXd& marginal = shift_.rows ? r : c;
      const VectorXd& weights = shift_.rows ? a_ : b_;
      const double on_plan = shift_.by.dot(marginal), on_weights = shift_.by.dot(weights);
      result.transport_cost += on_plan;
      result.primal += on_plan;
      result.dual += on_weights;
      result.gap += shift_.by.dot(marginal - weights);
    }
    result.row_marginal = gather_rows(r);
    result.col_marginal = c;
    const auto vs = values(result);
    return std::all_of(vs.begin(), vs.end(),
                       [](const auto& v) { return std::isfinite(*v.second); }) &&
           result.row_marginal.allFinite() && c.allFinite();
  }

  // The evaluated numbers, by their names in result_fields().
  static std::array<std::pair<const char*, double*>, 7> values(Result& r) {
    return {{{"marginal_error", &r.marginal_error},
             {"mass", &r.mass},
             {"transport_cost", &r.transport_cost},
             {"primal", &r.primal},
             {"dual", &r.dual},
             {"entropy", &r.entropy},
             {"gap", &r.gap}}};
  }

  // The last resort of the no-NaN, no-inf promise: names what overflowed and reports it as 0.
  static std::string zero_non_finite(Result& r) {
    std::string which;
    for (auto [name, v] : values(r)) {
      if (std::isfinite(*v)) continue;
      which += (which.empty() ? "" : ", ") + std::string(name);
      *v = 0;
    }
    for (auto [name, v] :
         {std::pair{"row_marginal", &r.row_marginal}, {"col_marginal", &r.col_marginal}}) {
      if (v->allFinite()) continue;
      which += (which.empty() ? "" : ", ") + std::string(name);
      *v = v->unaryExpr([](double x) { return std::isfinite(x) ? x : 0.0; });
    }
    return which + " (reported as 0)";
  }

  // What every result carries: the potentials, the problem, how the solve ran.
  void describe(Result& result) const {
    result.newton_steps = newton_steps_;
    result.stages = stages_;
    result.domain = kernel_on_ ? Domain::Kernel : Domain::Log;
    result.absorptions = kernel_ ? kernel_->absorptions() : absorptions_;
    result.kernel_bytes = choice_.kernel_bytes;
    result.history = history_;
    result.f = gather_rows(f_ + f_shift_);
    result.g = g_ + g_shift_;
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
    result.solve_time_seconds = elapsed();
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
  detail::OverRelaxation relaxation_;
  // The cost shift (lib/detail/shift.hpp), and what it takes from each side's potential.
  const detail::CostShift shift_;
  const VectorXd f_shift_, g_shift_;
  // The checks at the target so far, and the number of epsilon stages.
  std::vector<IterationInfo> history_;
  int stages_ = 1;
  struct Point {
    int iteration = 0;
    double error = 0;  // relative
  };
  Point last_check_;  // a check at the target 2-4 checks back
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
  Point first_, best_;
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
  const Whole whole = detail::validate_whole(block, options, ranks);
  const detail::CostShift shift =
      detail::choose_shift(block, whole.bounds, effective_tolerance<T>(options), ranks.size() > 1,
                           options.threads, options.interrupt);
  if (!shift.any()) return Sinkhorn<T>(block, options, start, ranks, whole, shift).run();
  Problem<T> shifted = block;
  shifted.geometry = std::make_shared<detail::ShiftedCost<T>>(block.geometry, shift);
  Whole seen = whole;
  seen.bounds = shift.bounds;
  return Sinkhorn<T>(shifted, options, start, ranks, seen, shift).run();
}

template <typename T>
Result solve(const Problem<T>& problem, const SolverOptions& options) {
  return solve(problem, options, Ranks::single());
}

template Result solve(const Problem<float>&, const SolverOptions&, const Ranks&);
template Result solve(const Problem<double>&, const SolverOptions&, const Ranks&);
template Result solve(const Problem<float>&, const SolverOptions&);
template Result solve(const Problem<double>&, const SolverOptions&);
template DomainChoice choose_domain(const Problem<float>&, const SolverOptions&);
template DomainChoice choose_domain(const Problem<double>&, const SolverOptions&);
template double effective_tolerance<float>(const SolverOptions&);
template double effective_tolerance<double>(const SolverOptions&);

}  // namespace eot
