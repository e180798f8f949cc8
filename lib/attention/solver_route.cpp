// Attention through the core solver: the one-sided EOT problem whose plan is SDPA's weights
// (docs/sdpa-as-eot.md, section 1), and two-sided (Sinkhorn) attention, the same problem
// with its columns constrained too.
#include <memory>

#include "attention/common.hpp"
#include "eot/solver.hpp"

namespace eot::attention {

using detail::check;

namespace {

// The attention problem for the core solver: the cost -<q, k> - epsilon bias (+inf where a pair
// is masked; matrix-free when there is no mask or bias), a_i = 1 except for queries that see no
// key (0: a zero row), b_j = 1 except for padding keys (0), and a free column side.
template <typename T>
Problem<T> attention_problem(const Matrix<T>& q, const Matrix<T>& k, double epsilon,
                             const Mask<T>& mask, int threads) {
  const Index n = q.rows(), m = k.rows();
  std::shared_ptr<const Geometry<T>> geometry;
  if (!mask.causal && mask.bias.size() == 0) {
    geometry = std::make_shared<PointCloud<T>>(q, k, Metric::NegDot);
  } else {
    Matrix<T> cost = -(q * k.transpose());
    if (mask.bias.size() != 0) cost -= T(epsilon) * mask.bias;  // -inf bias gives +inf cost
    for (Index i = 0; i < n && mask.causal; ++i) {
      cost.row(i).tail(m - std::min(m, i + 1)).setConstant(std::numeric_limits<T>::infinity());
    }
    geometry = std::make_shared<CostMatrix<T>>(std::move(cost));
  }
  Problem<T> problem(geometry, epsilon);
  problem.rho_a = kInf;
  problem.rho_b = 0;
  problem.b = Vector<T>::Ones(m);
  for (Index j = 0; j < Index(mask.key_padding.size()); ++j) {
    if (mask.key_padding[j]) problem.b[j] = 0;
  }
  Eigen::VectorXd seen;
  geometry->lse_rows(problem.b.template cast<double>().array().log(), 1.0, seen, threads);
  problem.a = (seen.array() == -kInf).select(0.0, Eigen::VectorXd::Ones(n)).template cast<T>();
  return problem;
}

}  // namespace

template <typename T>
Matrix<T> forward_via_solver(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v,
                             double epsilon, const Mask<T>& mask, int threads, Matrix<T>* weights) {
  epsilon = check<T>(q, k, v, epsilon, mask);
  const Problem<T> problem = attention_problem(q, k, epsilon, mask, threads);
  if (problem.a.sum() == 0) {  // no query sees any key
    if (weights) *weights = Matrix<T>::Zero(q.rows(), k.rows());
    return Matrix<T>::Zero(q.rows(), v.cols());
  }
  SolverOptions options;
  options.threads = threads;
  const Result result = solve(problem, options);
  if (weights) *weights = problem.plan(result.f, result.g, threads);
  return problem.apply_plan(result.f, result.g, v.template cast<double>(), threads)
      .template cast<T>();
}

template <typename T>
TwoSided<T> sinkhorn(const Matrix<T>& q, const Matrix<T>& k, const Matrix<T>& v, double epsilon,
                     const Mask<T>& mask, int normalizations, int threads) {
  epsilon = check<T>(q, k, v, epsilon, mask);
  if (normalizations < 0) {
    throw InvalidArgument("normalizations is " + std::to_string(normalizations) +
                          ": it must be >= 0 (0 = to convergence)");
  }
  Problem<T> problem = attention_problem(q, k, epsilon, mask, threads);
  TwoSided<T> out;
  out.status = normalizations == 0 ? Status::Converged : Status::MaxIterationsReached;
  if (problem.a.sum() == 0) {
    out.weights = Matrix<T>::Zero(q.rows(), k.rows());
    out.output = Matrix<T>::Zero(q.rows(), v.cols());
    return out;
  }
  // Columns share the mass of the queries equally (n / m without masks); a column that no
  // query sees keeps weight 0.
  Eigen::VectorXd reached;
  problem.geometry->lse_cols(problem.a.template cast<double>().array().log(), 1.0, reached,
                             threads);
  for (Index j = 0; j < problem.m(); ++j) {
    if (reached[j] == -kInf) problem.b[j] = 0;
  }
  problem.b *= problem.a.sum() / problem.b.sum();
  problem.rho_b = kInf;

  SolverOptions options;
  options.threads = threads;
  validate(problem, options);  // also when no solve follows (one normalization)
  if (normalizations > 0) {
    options.max_iterations = std::max(normalizations / 2, 1);
    options.tolerance = std::numeric_limits<double>::min();  // exactly that many
  }
  Eigen::VectorXd f = Eigen::VectorXd::Zero(problem.n()), g = Eigen::VectorXd::Zero(problem.m());
  if (normalizations != 1) {
    const Result result = solve(problem, options);
    f = result.f;
    g = result.g;
    out.status = result.status;
  }
  if (normalizations % 2 == 1) {
    // A last row normalization, f_i = -epsilon LSE_j (log b_j + (g_j - C_ij) / epsilon), in the
    // log domain (as column weights, b exp(g / epsilon) underflows T where g spans more than
    // about 87 epsilon in float). A query that sees no key keeps f_i = 0 (its a_i is 0).
    Eigen::VectorXd lse;
    problem.geometry->lse_rows(problem.log_col_factor(g), epsilon, lse, threads);
    f = (lse.array() == -kInf).select(0.0, -epsilon * lse.array());
  }
  out.normalizations = normalizations;
  out.weights = problem.plan(f, g, threads);
  out.output = problem.apply_plan(f, g, v.template cast<double>(), threads).template cast<T>();
  out.column_error = (out.weights.template cast<double>().colwise().sum().transpose() -
                      problem.b.template cast<double>())
                         .cwiseAbs()
                         .sum();
  return out;
}

#define EOT_INSTANTIATE(T)                                                                    \
  template Matrix<T> forward_via_solver(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, \
                                        double, const Mask<T>&, int, Matrix<T>*);             \
  template TwoSided<T> sinkhorn(const Matrix<T>&, const Matrix<T>&, const Matrix<T>&, double, \
                                const Mask<T>&, int, int);
EOT_INSTANTIATE(float)
EOT_INSTANTIATE(double)
#undef EOT_INSTANTIATE

}  // namespace eot::attention
