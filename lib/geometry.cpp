#include "eot/geometry.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <utility>
#include <vector>

#include "detail/exp.hpp"
#include "detail/metrics.hpp"
#include "detail/tiles.hpp"
#include "eot/error.hpp"
#include "eot/memory.hpp"
#include "kernels/kernels.hpp"

namespace eot {

using detail::Along;
using detail::exp_or_zero;
using detail::for_each_tile;
using Eigen::Dynamic;
using Eigen::VectorXd;

namespace {

VectorXd finish_lse(const VectorXd& max, const VectorXd& sum) {
  VectorXd out(max.size());
  for (Index k = 0; k < max.size(); ++k)
    out[k] = max[k] == -kInf ? -kInf : max[k] + std::log(sum[k]);
  return out;
}

// log P on a tile: alpha_i + beta_j - C_ij / epsilon, in double.
template <typename T>
Eigen::ArrayXXd log_plan(const typename Geometry<T>::Tile& c, const Eigen::VectorXd& alpha,
                         const Eigen::VectorXd& beta, Index i0, Index j0, double inv_eps) {
  Eigen::ArrayXXd z = -inv_eps * c.template cast<double>().array();
  z.colwise() += alpha.segment(i0, c.rows()).array();
  z.rowwise() += beta.segment(j0, c.cols()).transpose().array();
  return z;
}

}  // namespace

// The soft-min passes (docs/conventions.md, "Potentials and plan"): each row's (column's)
// log-sum-exp is kept as a running max and a sum shifted by it, which every tile of the row
// (column) updates.
template <typename T>
void Geometry<T>::lse_rows(const VectorXd& h, double epsilon, VectorXd& out, int threads,
                           const std::atomic<bool>* interrupt) const {
  const Vector<T> h_t = h.cast<T>();
  const T inv_eps = T(1 / epsilon);
  const kernels::Table<T>& kernels = kernels::table<T>();
  VectorXd max = VectorXd::Constant(rows(), -kInf), sum = VectorXd::Zero(rows());
  for_each_tile(
      *this, Along::Rows, threads,
      [&](Index i0, Index j0, const Tile& c) {
        kernels.lse_rows(c.data(), c.outerStride(), c.rows(), c.cols(), h_t.data() + j0, inv_eps,
                         max.data() + i0, sum.data() + i0);
      },
      interrupt);
  out = finish_lse(max, sum);
}

template <typename T>
void Geometry<T>::lse_cols(const VectorXd& h, double epsilon, VectorXd& out, int threads,
                           const std::atomic<bool>* interrupt) const {
  const Vector<T> h_t = h.cast<T>();
  const T inv_eps = T(1 / epsilon);
  const kernels::Table<T>& kernels = kernels::table<T>();
  VectorXd max = VectorXd::Constant(cols(), -kInf), sum = VectorXd::Zero(cols());
  for_each_tile(
      *this, Along::Cols, threads,
      [&](Index i0, Index j0, const Tile& c) {
        kernels.lse_cols(c.data(), c.outerStride(), c.rows(), c.cols(), h_t.data() + i0, inv_eps,
                         max.data() + j0, sum.data() + j0);
      },
      interrupt);
  out = finish_lse(max, sum);
}

template <typename T>
double Geometry<T>::transport_cost(const VectorXd& alpha, const VectorXd& beta, double epsilon,
                                   int threads) const {
  const kernels::Table<T>& kernels = kernels::table<T>();
  VectorXd per_row = VectorXd::Zero(rows());
  for_each_tile(*this, Along::Rows, threads, [&](Index i0, Index j0, const Tile& c) {
    kernels.transport(c.data(), c.outerStride(), c.rows(), c.cols(), alpha.data() + i0,
                      beta.data() + j0, 1 / epsilon, per_row.data() + i0);
  });
  return per_row.sum();
}

template <typename T>
Eigen::MatrixXd Geometry<T>::apply_plan(const VectorXd& alpha, const VectorXd& beta, double epsilon,
                                        const Eigen::Ref<const Eigen::MatrixXd>& v,
                                        int threads) const {
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(rows(), v.cols());
  for_each_tile(*this, Along::Rows, threads, [&](Index i0, Index j0, const Tile& c) {
    const Eigen::MatrixXd p =
        exp_or_zero(log_plan<T>(c, alpha, beta, i0, j0, 1 / epsilon)).matrix();
    out.middleRows(i0, c.rows()).noalias() += p * v.middleRows(j0, c.cols());
  });
  return out;
}

template <typename T>
Eigen::MatrixXd Geometry<T>::apply_plan_transpose(const VectorXd& alpha, const VectorXd& beta,
                                                  double epsilon,
                                                  const Eigen::Ref<const Eigen::MatrixXd>& w,
                                                  int threads) const {
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(cols(), w.cols());
  for_each_tile(*this, Along::Cols, threads, [&](Index i0, Index j0, const Tile& c) {
    const Eigen::MatrixXd p =
        exp_or_zero(log_plan<T>(c, alpha, beta, i0, j0, 1 / epsilon)).matrix();
    out.middleRows(j0, c.cols()).noalias() += p.transpose() * w.middleRows(i0, c.rows());
  });
  return out;
}

template <typename T>
Matrix<T> Geometry<T>::plan(const VectorXd& alpha, const VectorXd& beta, double epsilon,
                            int threads, const std::atomic<bool>* interrupt) const {
  require_dense_fits(rows(), cols(), sizeof(T), "the plan", kPlanAdvice);
  Matrix<T> out(rows(), cols());
  plan_into(alpha, beta, epsilon, out.data(), cols(), threads, interrupt);
  return out;
}

template <typename T>
void Geometry<T>::plan_into(const VectorXd& alpha, const VectorXd& beta, double epsilon, T* out,
                            Index ld, int threads, const std::atomic<bool>* interrupt) const {
  const kernels::Table<T>& kernels = kernels::table<T>();
  for_each_tile(
      *this, Along::Rows, threads,
      [&](Index i0, Index j0, const Tile& c) {
        kernels.plan(c.data(), c.outerStride(), c.rows(), c.cols(), alpha.data() + i0,
                     beta.data() + j0, 1 / epsilon, out + i0 * ld + j0, ld);
      },
      interrupt);
}

template <typename T>
SparsePlan Geometry<T>::select_plan(const VectorXd& alpha, const VectorXd& beta, double epsilon,
                                    const VectorXd& row_floor, const VectorXd& col_floor,
                                    Index max_per_row, int threads,
                                    const std::atomic<bool>* interrupt) const {
  using Entry = std::pair<double, Index>;  // (P_ij, j)
  std::vector<std::vector<Entry>> kept(rows());
  // Only the max_per_row largest of a row survive: trim a row's list whenever it doubles.
  auto trim = [&](std::vector<Entry>& row) {
    std::nth_element(row.begin(), row.begin() + max_per_row, row.end(), std::greater<Entry>());
    row.resize(max_per_row);
  };
  for_each_tile(
      *this, Along::Rows, threads,
      [&](Index i0, Index j0, const Tile& c) {
        const Eigen::ArrayXXd p = exp_or_zero(log_plan<T>(c, alpha, beta, i0, j0, 1 / epsilon));
        for (Index i = 0; i < p.rows(); ++i) {
          std::vector<Entry>& row = kept[i0 + i];
          for (Index j = 0; j < p.cols(); ++j) {
            const double v = p(i, j);
            if (v > 0 && (v >= row_floor[i0 + i] || v >= col_floor[j0 + j]))
              row.emplace_back(v, j0 + j);
          }
          if (Index(row.size()) >= 2 * max_per_row) trim(row);
        }
      },
      interrupt);
  SparsePlan out;
  out.start.assign(1, 0);
  for (std::vector<Entry>& row : kept) {
    if (Index(row.size()) > max_per_row) trim(row);
    std::sort(row.begin(), row.end(),
              [](const Entry& x, const Entry& y) { return x.second < y.second; });
    for (const Entry& e : row) {
      out.col.push_back(e.second);
      out.value.push_back(e.first);
    }
    out.start.push_back(Index(out.col.size()));
    std::vector<Entry>().swap(row);
  }
  return out;
}

template <typename T>
CostBounds Geometry<T>::cost_bounds(int threads) const {
  VectorXd lo = VectorXd::Constant(rows(), kInf), hi = VectorXd::Constant(rows(), -kInf);
  for_each_tile(*this, Along::Rows, threads, [&](Index i0, Index, const Tile& c) {
    const Eigen::ArrayXXd cd = c.template cast<double>().array();
    lo.segment(i0, c.rows()) =
        lo.segment(i0, c.rows())
            .cwiseMin((cd < kInf).select(cd, kInf).rowwise().minCoeff().matrix());
    hi.segment(i0, c.rows()) =
        hi.segment(i0, c.rows())
            .cwiseMax((cd < kInf).select(cd, -kInf).rowwise().maxCoeff().matrix());
  });
  CostBounds bounds{lo.minCoeff(), hi.maxCoeff()};
  if (bounds.max == -kInf) bounds = {0, 0};  // every pair forbidden
  return bounds;
}

// ---------------------------------------------------------------------------------------------
// CostMatrix

template <typename T>
CostMatrix<T>::CostMatrix(Matrix<T> cost)
    : storage_(std::move(cost)),
      data_(storage_.data()),
      rows_(storage_.rows()),
      cols_(storage_.cols()) {
  check();
}

template <typename T>
CostMatrix<T>::CostMatrix(const T* data, Index rows, Index cols, std::shared_ptr<const void> owner)
    : owner_(std::move(owner)), data_(data), rows_(rows), cols_(cols) {
  check();
}

template <typename T>
void CostMatrix<T>::check() {
  bounds_ = {kInf, -kInf};
  if (rows_ <= 0 || cols_ <= 0) {
    throw InvalidArgument("cost: the matrix is empty (" + std::to_string(rows_) + " x " +
                              std::to_string(cols_) + "); it needs at least one row and column",
                          "cost");
  }
  // Row by row, in passes the compiler vectorizes (a scalar loop with these branches took 4 ns an
  // entry, more than a 256 x 256 solve's iterations); the entry at fault is looked for only
  // once a row is known to hold one.
  constexpr T inf = std::numeric_limits<T>::infinity();
  for (Index i = 0; i < rows_; ++i) {
    const Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> row(data_ + i * cols_, cols_);
    const T lowest = row.minCoeff(), highest = row.maxCoeff();
    if (!(row == row).all() || lowest == -inf) {  // a NaN, or -inf
      for (Index j = 0; j < cols_; ++j) {
        if (std::isnan(row[j]) || row[j] == -inf) {
          std::ostringstream message;
          message << "cost(" << i << ", " << j << ") is " << row[j]
                  << ": costs must be finite, or +inf for a forbidden pair";
          throw InvalidArgument(message.str(), "cost", i);
        }
      }
    }
    bounds_.min = std::min(bounds_.min, double(lowest));
    if (highest == inf) {
      has_forbidden_ = true;
      bounds_.max = std::max(bounds_.max, double((row < inf).select(row, -inf).maxCoeff()));
    } else {
      bounds_.max = std::max(bounds_.max, double(highest));
    }
  }
  if (bounds_.max == -kInf) bounds_ = {0, 0};  // every pair forbidden
}

template <typename T>
std::string CostMatrix<T>::describe() const {
  return "dense " + std::to_string(rows()) + " x " + std::to_string(cols());
}

template <typename T>
typename Geometry<T>::Tile CostMatrix<T>::tile(Index i0, Index j0, Index ni, Index nj,
                                               Matrix<T>&) const {
  return typename Geometry<T>::Tile(data_ + i0 * cols_ + j0, ni, nj, Eigen::OuterStride<>(cols_));
}

// ---------------------------------------------------------------------------------------------
// PointCloud

const char* to_string(Metric metric) {
  return detail::with_metric(metric, [](auto ops) { return ops.name; });
}

const char* formula(Metric metric) {
  return detail::with_metric(metric, [](auto ops) { return ops.formula; });
}

Metric metric_from_string(const std::string& name) {
  return from_name(kMetrics, name, "metric", "metric");
}

template <typename T>
PointCloud<T>::PointCloud(Matrix<T> x, Matrix<T> y, Metric metric)
    : x_(std::move(x)), y_(std::move(y)), metric_(metric) {
  if (std::find(std::begin(kMetrics), std::end(kMetrics), metric) == std::end(kMetrics))
    throw InvalidArgument("metric: unknown value " + std::to_string(int(metric)), "metric");
  for (const auto& [name, points] : {std::pair{"x", &x_}, std::pair{"y", &y_}}) {
    if (points->rows() == 0 || points->cols() == 0) {
      throw InvalidArgument(std::string(name) + ": the point cloud is empty (" +
                                std::to_string(points->rows()) + " x " +
                                std::to_string(points->cols()) + ")",
                            name);
    }
    for (Index i = 0; i < points->rows(); ++i) {
      for (Index k = 0; k < points->cols(); ++k) {
        if (!std::isfinite((*points)(i, k))) {
          std::ostringstream message;
          message << name << "(" << i << ", " << k << ") is " << (*points)(i, k)
                  << ": coordinates must be finite";
          throw InvalidArgument(message.str(), name, i);
        }
      }
    }
  }
  if (x_.cols() != y_.cols()) {
    throw InvalidArgument("x and y: points must have the same dimension, but x has " +
                          std::to_string(x_.cols()) + " columns and y has " +
                          std::to_string(y_.cols()));
  }
  x_sq_ = x_.rowwise().squaredNorm();
  y_sq_ = y_.rowwise().squaredNorm();
  if (x_.cols() <= kDirectDimensions) y_t_ = y_.transpose();
}

template <typename T>
std::string PointCloud<T>::describe() const {
  return "point cloud " + std::to_string(rows()) + " x " + std::to_string(cols()) +
         ", d = " + std::to_string(x_.cols()) + ", " + to_string(metric_);
}

template <typename T>
CostBounds PointCloud<T>::known_cost_bounds() const {
  const double x_max = std::sqrt(double(x_sq_.maxCoeff()));
  const double y_max = std::sqrt(double(y_sq_.maxCoeff()));
  return detail::with_metric(metric_, [&](auto ops) {
    return CostBounds{ops.lowest(x_max, y_max), ops.highest(x_max, y_max)};
  });
}

template <typename T>
typename Geometry<T>::Tile PointCloud<T>::tile(Index i0, Index j0, Index ni, Index nj,
                                               Matrix<T>& scratch) const {
  // The caller's scratch only grows: resized for every edge tile, it would be a fresh (mapped)
  // allocation each time.
  if (scratch.size() < ni * nj) scratch.resize(ni, nj);
  const Index d = x_.cols();
  kernels::table<T>().cloud_tile(metric_, x_.data() + i0 * d, y_.data() + j0 * d,
                                 d <= kDirectDimensions ? y_t_.data() + j0 : nullptr, y_t_.cols(),
                                 x_sq_.data() + i0, y_sq_.data() + j0, ni, nj, d, scratch.data());
  return typename Geometry<T>::Tile(scratch.data(), ni, nj, Eigen::OuterStride<>(nj));
}

template class Geometry<float>;
template class Geometry<double>;
template class CostMatrix<float>;
template class CostMatrix<double>;
template class PointCloud<float>;
template class PointCloud<double>;

}  // namespace eot
