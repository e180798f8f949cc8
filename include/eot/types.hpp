// Scalar, vector and matrix types shared by the whole library.
#pragma once

#include <Eigen/Core>
#include <limits>

namespace eot {

using Index = Eigen::Index;

// Dense matrices are row-major: a cost row, a plan row and a point are contiguous.
template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

// +inf: a hard marginal constraint (rho) or a forbidden pair (cost).
inline constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace eot
