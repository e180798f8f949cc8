// Potentials kept relative to the costs' row (or column) minima, so that large costs do not
// cost digits (docs/conventions.md, "Large costs against epsilon").
//
// The plan exp((f_i + g_j - C_ij) / epsilon) a_i b_j depends on f_i - C_ij. When |C| / epsilon
// is large, f and C are large too, and their rounding (|C| 2^-53 in double) is multiplied by
// 1 / epsilon: a constant offset of 1e6 at epsilon 0.01 leaves the plan 1e-8 off whatever the
// solver does. Subtracting each row's smallest cost u_i from the row and from f_i changes
// neither the plan nor the update of a hard side (tau = 1 carries any shift of its potential),
// while the differences C_ij - u_i near the row's minimum, the entries that carry the mass,
// are exact and small. solve() runs the loop on C' = C - u with f' = f - u when the rows are a
// hard constraint (else on the columns when they are) and |C| / epsilon would otherwise put the
// rounding near the tolerance; the result reports f = f' + u and the values of C.
#pragma once

#include <atomic>
#include <limits>
#include <memory>
#include <tuple>
#include <utility>

#include "detail/tiles.hpp"
#include "eot/geometry.hpp"

namespace eot::detail {

// A shift of one side: that side's potential is stored minus `by`, and the costs are seen minus
// by_i (rows) or by_j (columns). Empty `by`: no shift.
struct CostShift {
  bool rows = true;
  Eigen::VectorXd by;
  CostBounds bounds;  // of the shifted finite costs: [0, the largest spread of a row or column]
  bool any() const { return by.size() > 0; }
};

// The costs C_ij - by_i (or - by_j), tile by tile.
template <typename T>
class ShiftedCost final : public Geometry<T> {
 public:
  ShiftedCost(std::shared_ptr<const Geometry<T>> base, const CostShift& shift)
      : base_(std::move(base)), rows_(shift.rows), by_(shift.by.cast<T>()), bounds_(shift.bounds) {}

  Index rows() const override { return base_->rows(); }
  Index cols() const override { return base_->cols(); }
  std::string describe() const override { return base_->describe(); }
  bool may_forbid() const override { return base_->may_forbid(); }
  double bytes() const override { return base_->bytes() + double(by_.size()) * sizeof(T); }
  CostBounds known_cost_bounds() const override { return bounds_; }
  typename Geometry<T>::Tile tile(Index i0, Index j0, Index ni, Index nj,
                                  Matrix<T>& scratch) const override {
    if (scratch.size() < ni * nj) scratch.resize(ni, nj);  // first: the base may write there
    const typename Geometry<T>::Tile c = base_->tile(i0, j0, ni, nj, scratch);
    Eigen::Map<Matrix<T>, 0, Eigen::OuterStride<>> out(scratch.data(), ni, nj,
                                                       Eigen::OuterStride<>(nj));
    // One pass, element by element (c may be `out` itself).
    if (rows_)
      out.array() = c.array().colwise() - by_.segment(i0, ni).array();
    else
      out.array() = c.array().rowwise() - by_.segment(j0, nj).transpose().array();
    return typename Geometry<T>::Tile(scratch.data(), ni, nj, Eigen::OuterStride<>(nj));
  }

 private:
  std::shared_ptr<const Geometry<T>> base_;
  bool rows_;
  Vector<T> by_;
  CostBounds bounds_;
};

// The smallest finite cost of each row (rows) or column, 0 where there is none; and the
// largest C_ij - by of the finite costs, in one pass (interrupted, what it found so far).
template <typename T>
std::pair<Eigen::VectorXd, double> cost_minima(const Geometry<T>& geometry, bool rows, int threads,
                                               const std::atomic<bool>* interrupt) {
  const Index size = rows ? geometry.rows() : geometry.cols();
  Eigen::VectorXd lo = Eigen::VectorXd::Constant(size, kInf),
                  hi = Eigen::VectorXd::Constant(size, -kInf);
  constexpr T inf = std::numeric_limits<T>::infinity();
  for_each_tile(
      geometry, rows ? Along::Rows : Along::Cols, threads,
      [&](Index i0, Index j0, const typename Geometry<T>::Tile& c) {
        // Costs are finite or +inf (validated): +inf never wins a minimum.
        const auto finite = (c.array() < inf).select(c.array(), -inf);
        if (rows) {
          auto l = lo.segment(i0, c.rows()), h = hi.segment(i0, c.rows());
          l = l.cwiseMin(c.rowwise().minCoeff().template cast<double>());
          h = h.cwiseMax(finite.rowwise().maxCoeff().matrix().template cast<double>());
        } else {
          auto l = lo.segment(j0, c.cols()), h = hi.segment(j0, c.cols());
          l = l.cwiseMin(c.colwise().minCoeff().transpose().template cast<double>());
          h = h.cwiseMax(finite.colwise().maxCoeff().transpose().matrix().template cast<double>());
        }
      },
      interrupt);
  const Eigen::ArrayXd empty = (lo.array() == kInf).cast<double>();
  lo = (empty > 0).select(0.0, lo.array());
  const double spread = (empty > 0).select(0.0, hi.array() - lo.array()).maxCoeff();
  return {lo, spread};
}

// The shift solve() applies: the row minima when the rows are hard, else the column minima when
// the columns are. It is worth its pass (and, for a dense cost, a copy of each tile) only where
// it saves digits that matter: the rounding it removes, machine epsilon x max |by| / epsilon,
// must come within a tenth of the tolerance and exceed 16 machine epsilons (4 bits). Costs near
// 0 with a large spread are not helped (their minima are small), and are left alone. None in a
// distributed solve (not done: the column minima, the shifted bounds and the values'
// corrections would each need the other ranks).
template <typename T>
CostShift choose_shift(const Problem<T>& problem, CostBounds bounds, double tolerance,
                       bool distributed, int threads, const std::atomic<bool>* interrupt) {
  const auto worth = [&](double largest) {
    const double saved = largest / problem.epsilon;
    return saved > 16 && saved * std::numeric_limits<T>::epsilon() > tolerance / 10;
  };
  // Near the top of double's range, f' + u could overflow where f itself does not (found by
  // fuzz_solve: a cost of 1.8e308 at epsilon 1e300): no shift there.
  const double reach = 2 * bounds.magnitude() + 1e3 * problem.epsilon;
  if (distributed || !worth(bounds.magnitude()) ||
      !(reach < std::numeric_limits<double>::max() / 4))
    return {};
  if (problem.rho_a != kInf && problem.rho_b != kInf) return {};
  CostShift shift;
  shift.rows = problem.rho_a == kInf;
  double spread;
  std::tie(shift.by, spread) = cost_minima(*problem.geometry, shift.rows, threads, interrupt);
  if (!worth(shift.by.cwiseAbs().maxCoeff())) return {};
  shift.bounds = {0, spread};
  return shift;
}

}  // namespace eot::detail
