// Over-relaxation's controller (SolverOptions::acceleration): which omega the Sinkhorn updates
// use, decided at each check at the target epsilon from the errors measured so far, and when
// to go back to where it began.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "eot/solver.hpp"

namespace eot::detail {

class OverRelaxation {
 public:
  enum class Verdict { Continue, Restore };

  OverRelaxation(const Acceleration& options, int check_every)
      : o_(options), check_every_(check_every) {}

  // The factor each update moves a potential by (1: plain Sinkhorn).
  double omega() const { return omega_; }

  // At a check at the target: the relative marginal error at `iteration` and the potentials
  // then. Plain iterations until two checks give the rate r, then omega from it. Over-relaxed
  // iterations may raise the error for a while before it falls faster; they are judged
  // against where they started: 10 times that error (or a non-finite one), or no progress after
  // max(5 checks, 2 / (1 - r)) iterations (what plain Sinkhorn needs to shrink the error by
  // e^2), and the verdict is Restore: the caller goes back to restore_f(), restore_g() with
  // omega = 1, up to kMaxFallbacks times.
  Verdict on_check(double error, int iteration, const Eigen::VectorXd& f,
                   const Eigen::VectorXd& g) {
    if (!active()) return Verdict::Continue;
    if (omega_ == 1) {
      if (previous_.iteration > 0 && error < previous_.error) {
        const double rate = per_iteration(error, iteration);
        start(o_.omega > 0 ? o_.omega : optimal(rate), rate, iteration, error, f, g);
      }
      previous_ = {iteration, error};
      return Verdict::Continue;
    }
    const bool blew_up = !(error <= 10 * start_.error);
    const bool stalled = iteration - start_.iteration >= patience_ && error >= start_.error;
    if (blew_up || stalled) {
      omega_ = 1;
      ++fallbacks_;
      previous_ = {iteration, start_.error};  // the rate is measured afresh from there
      return Verdict::Restore;
    }
    if (iteration - previous_.iteration >= 2 * check_every_) {
      if (o_.omega == 0 && error < previous_.error && error < start_.error)
        raise(per_iteration(error, iteration), iteration, error, f, g);
      previous_ = {iteration, error};
    }
    return Verdict::Continue;
  }

  // Where over-relaxation began: the potentials to restore.
  const Eigen::VectorXd& restore_f() const { return f_; }
  const Eigen::VectorXd& restore_g() const { return g_; }

  // Back to plain Sinkhorn for good (the Newton stage takes over).
  void end() {
    omega_ = 1;
    fallbacks_ = kMaxFallbacks;
  }

  // Whether a rate measured from `iteration` on may mix methods: over-relaxation may still
  // start, or started after it.
  bool unsettled_since(int iteration) const {
    return active() && (omega_ == 1 || iteration < start_.iteration);
  }

 private:
  struct Point {
    int iteration = 0;
    double error = 0;
  };

  bool active() const { return o_.enabled && fallbacks_ < kMaxFallbacks; }

  double per_iteration(double error, int iteration) const {
    return std::pow(error / previous_.error, 1.0 / (iteration - previous_.iteration));
  }

  // The optimal SOR factor for a plain rate r (Young), within max_omega.
  double optimal(double rate) const {
    return std::min(o_.max_omega, 2 / (1 + std::sqrt(1 - rate)));
  }

  void start(double omega, double rate, int iteration, double error, const Eigen::VectorXd& f,
             const Eigen::VectorXd& g) {
    omega_ = omega;
    start_ = {iteration, error};
    f_ = f;
    g_ = g;
    patience_ = std::max(5.0 * check_every_, 2 / (1 - rate));
  }

  // Adaptive over-relaxation (Hageman and Young's adaptive SOR): the first plain rate is often
  // a transient, faster than the asymptotic one, which makes omega too small. The over-relaxed
  // rate lambda, measured over two checks or more, tells the plain one: while omega is below
  // the optimum (lambda > omega - 1), r = (lambda + omega - 1)^2 / (lambda omega^2). omega then
  // moves up to the optimum for r, from a new starting point for the fallback.
  void raise(double lambda, int iteration, double error, const Eigen::VectorXd& f,
             const Eigen::VectorXd& g) {
    if (!(lambda > omega_ - 1)) return;
    const double rate = (lambda + omega_ - 1) * (lambda + omega_ - 1) / (lambda * omega_ * omega_);
    if (!(rate < 1)) return;
    const double next = optimal(rate);
    if (next <= omega_ + 0.01) return;
    start(next, rate, iteration, error, f, g);
  }

  static constexpr int kMaxFallbacks = 3;
  const Acceleration o_;
  const int check_every_;
  double omega_ = 1, patience_ = 0;
  int fallbacks_ = 0;
  Point previous_;         // the previous check that measured a rate
  Point start_;            // where the current omega began
  Eigen::VectorXd f_, g_;  // the potentials there
};

}  // namespace eot::detail
