// Scalar, vector and matrix types shared by the whole library.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace eot {

using Index = Eigen::Index;

// Dense matrices are row-major: a cost row, a plan row and a point are contiguous.
template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

// +inf: a hard marginal constraint (rho) or a forbidden pair (cost).
inline constexpr double kInf = std::numeric_limits<double>::infinity();

// The names of an enum's values, by its to_string (e.g. names(kMetrics)): the one list the
// parsers, their messages and the command line's choices come from.
template <typename E, std::size_t N>
std::vector<std::string> names(const E (&values)[N]) {
  std::vector<std::string> out;
  for (E value : values) out.push_back(to_string(value));
  return out;
}

// "a, b or c".
inline std::string one_of(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t k = 0; k < names.size(); ++k)
    out += (k == 0 ? "" : k + 1 == names.size() ? " or " : ", ") + names[k];
  return out;
}

}  // namespace eot
