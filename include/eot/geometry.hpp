// Geometries: where the cost C (n x m) comes from, and the only kernels that touch it.
//
// A geometry hands out tiles of costs; every hot kernel (log-sum-exp over rows or columns,
// plan products, the transport cost) runs over those tiles (lib/geometry.cpp), on the inner
// loops of lib/kernels/, compiled per instruction set.
// A dense CostMatrix returns views into its storage; a PointCloud computes each tile on the
// fly, so a point-cloud solve never holds an n x m array.
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "eot/metric.hpp"
#include "eot/types.hpp"

namespace eot {

// The smallest and largest finite cost.
struct CostBounds {
  double min = 0;
  double max = 0;
  double range() const { return max - min; }
  double magnitude() const { return std::max(-min, max); }  // max |C_ij|
};

// The large entries of a plan, row by row (compressed sparse rows): row i's entries are
// col[k], value[k] for k in [start[i], start[i + 1]).
struct SparsePlan {
  std::vector<Index> start, col;
  std::vector<double> value;
  Index nonzeros() const { return Index(col.size()); }
};

template <typename T>
class Geometry {
 public:
  using Tile = Eigen::Map<const Matrix<T>, 0, Eigen::OuterStride<>>;

  virtual ~Geometry() = default;

  virtual Index rows() const = 0;
  virtual Index cols() const = 0;
  // One line for reports, e.g. "dense 100 x 80" or "point cloud 1000 x 1000, d = 2, sqeuclidean".
  virtual std::string describe() const = 0;
  // True if some cost may be +inf (a forbidden pair).
  virtual bool may_forbid() const = 0;
  // The memory the geometry holds, in bytes (n m entries for a dense cost, a few n + m for
  // points): what the solver counts as in use against SolverOptions::memory_limit.
  virtual double bytes() const = 0;
  // Bounds min <= C_ij <= max on the finite costs, known without a pass over them (exact for
  // a dense matrix). validate() judges epsilon against them; epsilon scaling starts at their
  // range.
  virtual CostBounds known_cost_bounds() const = 0;
  // Costs of rows [i0, i0 + ni) and columns [j0, j0 + nj). The view points into the
  // geometry's storage or into `scratch` (which the caller owns, one per thread).
  virtual Tile tile(Index i0, Index j0, Index ni, Index nj, Matrix<T>& scratch) const = 0;

  // The soft-min kernels (docs/conventions.md, "Potentials and plan"). `threads` as for
  // eot::thread_count (0: all CPUs). Each output entry is computed by one thread in a fixed order:
  // results do not depend on the thread count.
  //
  // If `*interrupt` turns true during a pass, the pass stops early and `out` is meaningless.
  //
  // out_i = LSE_j (h_j - C_ij / epsilon), and -inf when every term is -inf.
  void lse_rows(const Eigen::VectorXd& h, double epsilon, Eigen::VectorXd& out, int threads,
                const std::atomic<bool>* interrupt = nullptr) const;
  // out_j = LSE_i (h_i - C_ij / epsilon), and -inf when every term is -inf.
  void lse_cols(const Eigen::VectorXd& h, double epsilon, Eigen::VectorXd& out, int threads,
                const std::atomic<bool>* interrupt = nullptr) const;

  // The kernels below act on the plan P_ij = exp(alpha_i + beta_j - C_ij / epsilon)
  // (forbidden pairs and -inf log-weights give P_ij = 0), never materializing it.
  // <P, C>, summed in double.
  double transport_cost(const Eigen::VectorXd& alpha, const Eigen::VectorXd& beta, double epsilon,
                        int threads) const;
  // P V (V is m x k) and P^T W (W is n x k), accumulated in double.
  Eigen::MatrixXd apply_plan(const Eigen::VectorXd& alpha, const Eigen::VectorXd& beta,
                             double epsilon, const Eigen::Ref<const Eigen::MatrixXd>& v,
                             int threads) const;
  Eigen::MatrixXd apply_plan_transpose(const Eigen::VectorXd& alpha, const Eigen::VectorXd& beta,
                                       double epsilon, const Eigen::Ref<const Eigen::MatrixXd>& w,
                                       int threads) const;
  // The plan itself, n x m; InvalidArgument if it cannot fit in memory. Interrupted, it is
  // incomplete (as lse_rows).
  Matrix<T> plan(const Eigen::VectorXd& alpha, const Eigen::VectorXd& beta, double epsilon,
                 int threads, const std::atomic<bool>* interrupt = nullptr) const;
  // The same into memory the caller owns: row i at out + i * ld (ld >= cols()).
  void plan_into(const Eigen::VectorXd& alpha, const Eigen::VectorXd& beta, double epsilon, T* out,
                 Index ld, int threads, const std::atomic<bool>* interrupt = nullptr) const;

  // The entries with P_ij >= row_floor_i or P_ij >= col_floor_j, at most max_per_row of them
  // per row (its largest), in one pass. Interrupted, it is incomplete (as lse_rows).
  SparsePlan select_plan(const Eigen::VectorXd& alpha, const Eigen::VectorXd& beta, double epsilon,
                         const Eigen::VectorXd& row_floor, const Eigen::VectorXd& col_floor,
                         Index max_per_row, int threads,
                         const std::atomic<bool>* interrupt = nullptr) const;

  // The smallest and largest finite cost (one pass over the costs).
  CostBounds cost_bounds(int threads) const;
};

// A dense cost matrix; entries are finite or +inf (forbidden pair). It owns its entries, or
// borrows row-major memory the caller keeps alive (a NumPy array, a memory map): no copy.
template <typename T>
class CostMatrix final : public Geometry<T> {
 public:
  // Throws InvalidArgument if the matrix is empty or has a NaN or -inf entry.
  explicit CostMatrix(Matrix<T> cost);
  // Borrows rows x cols costs, row i at data + i * cols, which must stay unchanged while the
  // geometry lives; `owner` is held until then (e.g. what keeps the memory alive). Same checks.
  CostMatrix(const T* data, Index rows, Index cols, std::shared_ptr<const void> owner);
  // Not copied or moved (it points into its own storage): share it, as a Problem does.
  CostMatrix(const CostMatrix&) = delete;
  CostMatrix& operator=(const CostMatrix&) = delete;

  Eigen::Map<const Matrix<T>> cost() const { return {data_, rows_, cols_}; }
  Index rows() const override { return rows_; }
  Index cols() const override { return cols_; }
  std::string describe() const override;
  bool may_forbid() const override { return has_forbidden_; }
  double bytes() const override { return double(rows_) * double(cols_) * sizeof(T); }
  CostBounds known_cost_bounds() const override { return bounds_; }
  typename Geometry<T>::Tile tile(Index i0, Index j0, Index ni, Index nj,
                                  Matrix<T>& scratch) const override;

 private:
  void check();  // the constructors' checks, and the bounds

  Matrix<T> storage_;                  // the entries when owned, else empty
  std::shared_ptr<const void> owner_;  // keeps borrowed entries alive
  const T* data_ = nullptr;
  Index rows_ = 0, cols_ = 0;
  bool has_forbidden_ = false;
  CostBounds bounds_;  // of the finite entries
};

// Points x (n x d) and y (m x d); costs are computed tile by tile, never stored.
template <typename T>
class PointCloud final : public Geometry<T> {
 public:
  // Throws InvalidArgument if a cloud is empty, the dimensions differ or a coordinate is
  // not finite.
  PointCloud(Matrix<T> x, Matrix<T> y, Metric metric = Metric::SqEuclidean);

  const Matrix<T>& x() const { return x_; }
  const Matrix<T>& y() const { return y_; }
  Metric metric() const { return metric_; }
  Index rows() const override { return x_.rows(); }
  Index cols() const override { return y_.rows(); }
  std::string describe() const override;
  bool may_forbid() const override { return false; }
  double bytes() const override {
    return double(x_.size() + 2 * y_.size() + x_sq_.size() + y_sq_.size()) * sizeof(T);
  }
  // From the largest norms |x|, |y| (e.g. [0, (|x| + |y|)^2] for sqeuclidean).
  CostBounds known_cost_bounds() const override;
  typename Geometry<T>::Tile tile(Index i0, Index j0, Index ni, Index nj,
                                  Matrix<T>& scratch) const override;

 private:
  // Up to this dimension a tile is computed a coordinate at a time; above it, as a GEMM
  // (x y^T) and the squared norms.
  static constexpr Index kDirectDimensions = 8;
  Matrix<T> x_, y_;
  Matrix<T> y_t_;          // y transposed (d x m) when d <= kDirectDimensions
  Vector<T> x_sq_, y_sq_;  // squared norms, for the GEMM-shaped squared distance
  Metric metric_;
};

extern template class Geometry<float>;
extern template class Geometry<double>;
extern template class CostMatrix<float>;
extern template class CostMatrix<double>;
extern template class PointCloud<float>;
extern template class PointCloud<double>;

}  // namespace eot
