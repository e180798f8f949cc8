// The Newton stage: where Sinkhorn's rate goes to 1 (small epsilon), Newton steps on the dual
// with a sparsified Hessian, in the spirit of Sinkhorn-Newton-Sparse (Tang et al., ICLR 2024).
// The derivation is in docs/conventions.md, "The Newton stage". In short, with r = P 1,
// c = P^T 1 and the targets t_a, t_b of lib/detail/dual.hpp, the dual D(f, g) has gradient
// (t_a - r, t_b - c) and
//
//   -Hessian = (1 / epsilon) [[diag(r), P], [P^T, diag(c)]] + diag(t_a / rho_a, t_b / rho_b)
//
// (the last terms only on soft sides). A step keeps of P only its large entries (a fraction of
// their row's or column's mass), solves the system by conjugate gradients preconditioned with
// its diagonal, and searches along the direction until D rises: every step is an ascent step.
// Memory is O(nnz + n + m): a point cloud's costs are still never stored.
#pragma once

#include <atomic>

#include "eot/geometry.hpp"

namespace eot::detail {

// A side of the problem: its weights (and their logs) and its penalty, inf or in (0, inf).
struct DualSide {
  const Eigen::VectorXd& w;
  const Eigen::VectorXd& log_w;
  double rho;
};

template <typename T>
class NewtonStep {
 public:
  NewtonStep(const Geometry<T>& geometry, DualSide a, DualSide b, double epsilon, int threads,
             const std::atomic<bool>* interrupt);

  enum class Outcome {
    Ascent,       // the step raised the dual; f, g and both LSEs are the new ones
    NoAscent,     // no step along the direction raised it; nothing changed
    Interrupted,  // nothing changed
  };
  // One step from (f, g), given row_lse_i = LSE_j [log b_j + (g_j - C_ij) / epsilon] and
  // col_lse_j = LSE_i [log a_i + (f_i - C_ij) / epsilon] (what the Sinkhorn loop keeps).
  Outcome operator()(Eigen::VectorXd& f, Eigen::VectorXd& g, Eigen::VectorXd& row_lse,
                     Eigen::VectorXd& col_lse);

  // Of the last step: the Hessian's kept plan entries and the conjugate-gradient iterations.
  Index nonzeros() const { return nonzeros_; }
  int cg_iterations() const { return cg_iterations_; }

 private:
  Eigen::VectorXd direction(const SparsePlan& plan, const Eigen::VectorXd& diagonal,
                            const Eigen::VectorXd& rhs, double tolerance);

  const Geometry<T>& geometry_;
  const DualSide a_, b_;
  const double eps_;
  const int threads_;
  const std::atomic<bool>* interrupt_;
  Index nonzeros_ = 0;
  int cg_iterations_ = 0;
};

extern template class NewtonStep<float>;
extern template class NewtonStep<double>;

}  // namespace eot::detail
