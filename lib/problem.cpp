#include "eot/problem.hpp"

#include "eot/error.hpp"

namespace eot {

double damping(double rho, double epsilon) {
  return rho == kInf ? 1.0 : rho / (rho + epsilon);
}

std::string regime_name(double rho_a, double rho_b) {
  auto kind = [](double rho) { return rho == kInf ? 'h' : rho == 0 ? 'f' : 's'; };
  const std::string sides{kind(rho_a), kind(rho_b)};
  if (sides == "hh") return "balanced";
  if (sides == "hs" || sides == "sh") return "semi-relaxed";
  if (sides == "ss") return "unbalanced";
  if (sides == "hf" || sides == "fh") return "one-sided";
  if (sides == "sf" || sides == "fs") return "one-sided unbalanced";
  return "unconstrained";
}

template <typename T>
Problem<T>::Problem(std::shared_ptr<const Geometry<T>> geometry_, double epsilon_)
    : geometry(std::move(geometry_)), epsilon(epsilon_) {
  if (!geometry) throw InvalidArgument("geometry: is null; a problem needs a cost");
  a = Vector<T>::Constant(geometry->rows(), T(1) / T(geometry->rows()));
  b = Vector<T>::Constant(geometry->cols(), T(1) / T(geometry->cols()));
}

template <typename T>
Eigen::VectorXd Problem<T>::log_row_factor(const Eigen::VectorXd& f) const {
  return a.template cast<double>().array().log() + f.array() / epsilon;
}

template <typename T>
Eigen::VectorXd Problem<T>::log_col_factor(const Eigen::VectorXd& g) const {
  return b.template cast<double>().array().log() + g.array() / epsilon;
}

template <typename T>
Matrix<T> Problem<T>::plan(const Eigen::VectorXd& f, const Eigen::VectorXd& g, int threads) const {
  return geometry->plan(log_row_factor(f), log_col_factor(g), epsilon, threads);
}

template <typename T>
Eigen::MatrixXd Problem<T>::apply_plan(const Eigen::VectorXd& f, const Eigen::VectorXd& g,
                                       const Eigen::Ref<const Eigen::MatrixXd>& v,
                                       int threads) const {
  if (v.rows() != m()) {
    throw InvalidArgument("apply_plan: V has " + std::to_string(v.rows()) +
                          " rows but the plan has " + std::to_string(m()) + " columns");
  }
  return geometry->apply_plan(log_row_factor(f), log_col_factor(g), epsilon, v, threads);
}

template <typename T>
Eigen::MatrixXd Problem<T>::apply_plan_transpose(const Eigen::VectorXd& f, const Eigen::VectorXd& g,
                                                 const Eigen::Ref<const Eigen::MatrixXd>& w,
                                                 int threads) const {
  if (w.rows() != n()) {
    throw InvalidArgument("apply_plan_transpose: W has " + std::to_string(w.rows()) +
                          " rows but the plan has " + std::to_string(n()) + " rows");
  }
  return geometry->apply_plan_transpose(log_row_factor(f), log_col_factor(g), epsilon, w, threads);
}

template struct Problem<float>;
template struct Problem<double>;

}  // namespace eot
