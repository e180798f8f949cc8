// The identities of docs/sdpa-as-eot.md on one query and on whole weight matrices: the
// log-sum-exp potential and its gradient (softmax), its Hessian (the Fisher information), its
// Bregman divergence, the advantage form of the score gradient, and how peaked weights are.
#include "attention/common.hpp"

namespace eot::attention {

using detail::check;

template <typename T>
Matrix<T> score_gradient_advantage(const Matrix<T>& weights, const Matrix<T>& v,
                                   const Matrix<T>& grad_output, double epsilon) {
  const Matrix<T> u = grad_output * v.transpose();                     // u_ij = <dO_i, v_j>
  const Vector<T> expected = weights.cwiseProduct(u).rowwise().sum();  // E_{p_i}[u_i]
  return (weights.array() * (u.colwise() - expected).array() / T(epsilon)).matrix();
}

template <typename T>
WeightStats weight_stats(const Matrix<T>& weights, const Matrix<T>& q, const Matrix<T>& k,
                         const Mask<T>& mask) {
  check<T>(q, k, Matrix<T>(Matrix<T>::Zero(k.rows(), 1)), 1.0, mask);
  if (weights.rows() != q.rows() || weights.cols() != k.rows()) {
    throw InvalidArgument(detail::shape("weights", weights.rows(), weights.cols()) +
                          " must be n x m = " + std::to_string(q.rows()) + " x " +
                          std::to_string(k.rows()));
  }
  const Matrix<T> visible =
      detail::scores<T>(q, k, mask, T(1));  // -inf where the query does not see the key
  const Matrix<T> dots = q * k.transpose();
  WeightStats stats;
  Index rows = 0;
  for (Index i = 0; i < q.rows(); ++i) {
    const Eigen::Array<bool, Eigen::Dynamic, 1> seen =
        visible.row(i).transpose().array() > -std::numeric_limits<T>::infinity();
    const Index count = seen.count();
    if (count == 0) continue;
    ++rows;
    const Eigen::ArrayXd p = weights.row(i).transpose().template cast<double>().array();
    const Eigen::ArrayXd d =
        seen.select(dots.row(i).transpose().template cast<double>().array(), -kInf);
    const Eigen::ArrayXd winners = (d == d.maxCoeff()).template cast<double>();
    stats.mean_entropy -= (p > 0).select(p * p.log(), 0.0).sum();
    stats.mean_max_weight += p.maxCoeff();
    stats.distance_to_hard += 0.5 * (p - winners / winners.sum()).abs().sum();
    stats.distance_to_uniform += 0.5 * seen.select((p - 1.0 / double(count)).abs(), p.abs()).sum();
  }
  if (rows > 0) {
    stats.mean_entropy /= double(rows);
    stats.mean_max_weight /= double(rows);
    stats.distance_to_hard /= double(rows);
    stats.distance_to_uniform /= double(rows);
  }
  return stats;
}

double lse_potential(const Eigen::VectorXd& s, double epsilon) {
  const double top = s.maxCoeff();
  return top + epsilon * std::log(((s.array() - top) / epsilon).exp().sum());
}

Eigen::VectorXd softmax(const Eigen::VectorXd& s, double epsilon) {
  const Eigen::ArrayXd e = ((s.array() - s.maxCoeff()) / epsilon).exp();
  return e / e.sum();
}

Eigen::MatrixXd fisher(const Eigen::VectorXd& p) {
  return Eigen::MatrixXd(p.asDiagonal()) - p * p.transpose();
}

double bregman(const Eigen::VectorXd& s2, const Eigen::VectorXd& s1, double epsilon) {
  return lse_potential(s2, epsilon) - lse_potential(s1, epsilon) -
         softmax(s1, epsilon).dot(s2 - s1);
}

#define EOT_INSTANTIATE(T)                                                                \
  template Matrix<T> score_gradient_advantage(const Matrix<T>&, const Matrix<T>&,         \
                                              const Matrix<T>&, double);                  \
  template WeightStats weight_stats(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, \
                                    const Mask<T>&);
EOT_INSTANTIATE(float)
EOT_INSTANTIATE(double)
#undef EOT_INSTANTIATE

}  // namespace eot::attention
