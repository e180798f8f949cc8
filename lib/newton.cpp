#include "detail/newton.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "detail/dual.hpp"

namespace eot::detail {

using Eigen::VectorXd;

namespace {

// The Hessian keeps P_ij when it carries at least this fraction of row i's or column j's mass,
// and at most kMaxPerRow entries of a row (docs/benchmarks.md, "The Newton stage", says how they
// were chosen).
constexpr double kKeep = 1e-12;
constexpr Index kMaxPerRow = 64;
// Armijo's sufficient-ascent fraction, and the shortest step tried before giving up.
constexpr double kArmijo = 1e-4;
constexpr double kShortestStep = 1.0 / (1 << 20);
constexpr int kHalvings = 20;  // from the first step down to kShortestStep of it
// The first step tried moves no potential by more than this many epsilon.
constexpr double kReach = 10;
// The Levenberg-Marquardt damping per unit of relative error, and the loosest relative residual
// of conjugate gradients (docs/benchmarks.md, "The Newton stage", says how they were chosen).
constexpr double kDamping = 0.03;
constexpr double kLoosest = 1e-2;
// Conjugate gradients stop at this many iterations whatever the residual.
constexpr int kMaxCgIterations = 2000;

}  // namespace

template <typename T>
NewtonStep<T>::NewtonStep(const Geometry<T>& geometry, DualSide a, DualSide b, double epsilon,
                          int threads, const std::atomic<bool>* interrupt)
    : geometry_(geometry), a_(a), b_(b), eps_(epsilon), threads_(threads), interrupt_(interrupt) {}

template <typename T>
typename NewtonStep<T>::Outcome NewtonStep<T>::operator()(VectorXd& f, VectorXd& g,
                                                          VectorXd& row_lse, VectorXd& col_lse) {
  auto interrupted = [&] { return interrupt_ && interrupt_->load(std::memory_order_relaxed); };
  const Index n = f.size(), m = g.size();
  const VectorXd r = marginal(a_.log_w, f, row_lse, eps_), c = marginal(b_.log_w, g, col_lse, eps_);
  const VectorXd target_a = target(a_.w, f, a_.rho), target_b = target(b_.w, g, b_.rho);
  VectorXd gradient(n + m);
  gradient << target_a - r, target_b - c;
  const double error = gradient.lpNorm<1>(), mass = r.sum();
  if (!(mass > 0 && error > 0)) return Outcome::NoAscent;  // a plan's mass below double's range

  // The system eps (-Hessian) d = eps gradient, its plan part sparsified.
  VectorXd diagonal(n + m);
  diagonal << r, c;
  if (a_.rho != kInf) diagonal.head(n) += eps_ / a_.rho * target_a;
  if (b_.rho != kInf) diagonal.tail(m) += eps_ / b_.rho * target_b;
  const SparsePlan plan =
      geometry_.select_plan(a_.log_w + f / eps_, b_.log_w + g / eps_, eps_, kKeep * r, kKeep * c,
                            kMaxPerRow, threads_, interrupt_);
  if (interrupted()) return Outcome::Interrupted;
  nonzeros_ = plan.nonzeros();
  // Levenberg-Marquardt: the diagonal weighs (1 + mu) times, mu = kDamping x the relative error.
  // Far from the optimum the sparse Hessian's graph falls apart into pieces whose couplings
  // are tiny, and pure Newton steps between them are huge; near it, mu -> 0 and the steps are
  // Newton's. Inexact Newton: the residual shrinks with the error as well.
  const double relative = error / mass;
  const VectorXd d = direction(plan, (1 + kDamping * std::min(1.0, relative)) * diagonal,
                               eps_ * gradient, std::clamp(relative, 1e-12, kLoosest));
  const double slope = gradient.dot(d);
  if (!(slope > 0)) return Outcome::NoAscent;

  // Backtracking on D(f + t d_f, g + t d_g) - D(f, g), computed as a sum of changes. Within
  // rounding of D's size, a smaller marginal error decides instead.
  const double slack = 64 * std::numeric_limits<double>::epsilon() *
                       (a_.w.dot(f.cwiseAbs()) + b_.w.dot(g.cwiseAbs()) + eps_ * mass);
  VectorXd next_row, next_col;
  // The first step moves no potential by more than kReach epsilon: beyond that the quadratic
  // model of exp says nothing.
  // Counted, not compared: a first step that underflows to 0 would halve forever (found by
  // fuzz_solve).
  const double first = std::min(1.0, kReach * eps_ / d.lpNorm<Eigen::Infinity>());
  if (!(first > 0)) return Outcome::NoAscent;
  double t = first;
  for (int halving = 0; t >= first * kShortestStep && halving <= kHalvings; ++halving, t /= 2) {
    const VectorXd step_f = t * d.head(n), step_g = t * d.tail(m);
    const VectorXd next_f = f + step_f, next_g = g + step_g;
    geometry_.lse_rows(b_.log_w + next_g / eps_, eps_, next_row, threads_, interrupt_);
    if (interrupted()) return Outcome::Interrupted;
    const VectorXd next_r = marginal(a_.log_w, next_f, next_row, eps_);
    const double gain = conjugate_change(a_.w, f, step_f, a_.rho) +
                        conjugate_change(b_.w, g, step_g, b_.rho) - eps_ * (next_r.sum() - mass);
    if (!std::isfinite(gain) || gain < -slack) continue;
    const bool ascent = gain >= kArmijo * t * slope;
    geometry_.lse_cols(a_.log_w + next_f / eps_, eps_, next_col, threads_, interrupt_);
    if (interrupted()) return Outcome::Interrupted;
    if (!ascent) {
      const VectorXd next_c = marginal(b_.log_w, next_g, next_col, eps_);
      const double next_error = (target(a_.w, next_f, a_.rho) - next_r).lpNorm<1>() +
                                (target(b_.w, next_g, b_.rho) - next_c).lpNorm<1>();
      if (!(next_error < error)) continue;
    }
    f = next_f;
    g = next_g;
    row_lse = next_row;
    col_lse = next_col;
    return Outcome::Ascent;
  }
  return Outcome::NoAscent;
}

// Conjugate gradients on [[D_f, S], [S^T, D_g]] x = rhs, S the kept plan entries, preconditioned
// by the diagonal. The diagonal holds the full marginals, so the matrix is diagonally dominant:
// positive semi-definite, and definite once an entry is dropped. A row or column without mass
// (a zero weight) keeps x = 0.
template <typename T>
VectorXd NewtonStep<T>::direction(const SparsePlan& plan, const VectorXd& diagonal,
                                  const VectorXd& rhs, double tolerance) {
  const Index n = Index(plan.start.size()) - 1;
  auto apply = [&](const VectorXd& x) {
    VectorXd y = diagonal.cwiseProduct(x);
    for (Index i = 0; i < n; ++i) {
      double sum = 0;
      for (Index k = plan.start[i]; k < plan.start[i + 1]; ++k) {
        sum += plan.value[k] * x[n + plan.col[k]];
        y[n + plan.col[k]] += plan.value[k] * x[i];
      }
      y[i] += sum;
    }
    return y;
  };
  const VectorXd inverse = (diagonal.array() > 0).select(diagonal.array().inverse(), 0.0);
  VectorXd x = VectorXd::Zero(rhs.size());
  VectorXd residual = (diagonal.array() > 0).select(rhs.array(), 0.0);
  VectorXd z = inverse.cwiseProduct(residual), p = z;
  double rz = residual.dot(z);
  const double goal = tolerance * residual.norm();
  cg_iterations_ = 0;
  while (cg_iterations_ < kMaxCgIterations && residual.norm() > goal) {
    ++cg_iterations_;
    const VectorXd q = apply(p);
    const double curvature = p.dot(q);
    if (!(curvature > 0)) break;
    const double step = rz / curvature;
    x += step * p;
    residual -= step * q;
    z = inverse.cwiseProduct(residual);
    const double next = residual.dot(z);
    p = z + (next / rz) * p;
    rz = next;
  }
  return x;
}

template class NewtonStep<float>;
template class NewtonStep<double>;

}  // namespace eot::detail
