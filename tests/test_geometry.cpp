// Geometries: point-cloud costs, the log-sum-exp kernels and the plan kernels against naive
// loops, on sizes that span several tiles.
#include <doctest/doctest.h>

#include "helpers.hpp"

using namespace test;

namespace {

// LSE_j (h_j - C_ij / epsilon) by the textbook two-pass formula.
VectorXd naive_lse_rows(const MatrixD& c, const VectorXd& h, double epsilon) {
  VectorXd out(c.rows());
  for (Index i = 0; i < c.rows(); ++i) {
    double top = -eot::kInf;
    for (Index j = 0; j < c.cols(); ++j) top = std::max(top, h[j] - c(i, j) / epsilon);
    double sum = 0;
    for (Index j = 0; j < c.cols(); ++j) {
      if (top > -eot::kInf) sum += std::exp(h[j] - c(i, j) / epsilon - top);
    }
    out[i] = top == -eot::kInf ? -eot::kInf : top + std::log(sum);
  }
  return out;
}

MatrixD dense_costs(const eot::Geometry<double>& g) {
  MatrixD scratch;
  return g.tile(0, 0, g.rows(), g.cols(), scratch);
}

}  // namespace

TEST_CASE("point-cloud costs match the pairwise formulas, every metric") {
  // d = 3 is computed a coordinate at a time, d = 12 as a GEMM.
  for (eot::Metric metric : eot::kMetrics) {
    for (int d : {3, 12}) {
      const std::string name = eot::to_string(metric);
      CAPTURE(name);
      CAPTURE(d);
      MatrixD x = uniform_matrix(70, d, 1, -1, 1), y = uniform_matrix(300, d, 2, -1, 1);
      x.row(5).setZero();   // a point at the origin (cosine's zero vector)
      y.row(7) = x.row(9);  // a pair at distance 0
      const eot::PointCloud<double> cloud(x, y, metric);
      const MatrixD c = dense_costs(cloud);
      double worst = 0;
      for (Index i = 0; i < x.rows(); ++i) {
        for (Index j = 0; j < y.rows(); ++j)
          worst = std::max(worst,
                           double(std::abs(c(i, j) - reference_cost(metric, x.row(i), y.row(j)))));
      }
      CHECK(worst < 1e-13);
      // known_cost_bounds() holds without a pass over the costs, and not loosely here.
      const eot::CostBounds known = cloud.known_cost_bounds();
      CHECK(known.min <= c.minCoeff());
      CHECK(c.maxCoeff() <= known.max);
      CHECK(c.maxCoeff() - c.minCoeff() > known.range() / 4);
      CHECK(eot::metric_from_string(name) == metric);
    }
  }
  CHECK(contains(message_of<eot::InvalidArgument>([] { eot::metric_from_string("cityblock"); }),
                 "unknown metric 'cityblock'; expected sqeuclidean, euclidean, negdot or cosine"));
}

TEST_CASE("the cosine cost is scale-free, even where |x|^2 |y|^2 leaves float's range") {
  const MatrixD x = uniform_matrix(9, 3, 11, -1, 1), y = uniform_matrix(7, 3, 12, -1, 1);
  const MatrixD unit = dense_costs(eot::PointCloud<double>(x, y, eot::Metric::Cosine));
  for (double scale : {1e10, 1e-10}) {  // |x|^2 |y|^2 near 1e40 or 1e-40 in float
    CAPTURE(scale);
    const eot::PointCloud<float> cloud((x * scale).cast<float>(), (y * scale).cast<float>(),
                                       eot::Metric::Cosine);
    eot::Matrix<float> scratch;
    const MatrixD c = cloud.tile(0, 0, 9, 7, scratch).cast<double>();
    CHECK(max_abs_diff(c, unit) < 1e-5);
  }
}

TEST_CASE("log-sum-exp kernels match the two-pass formula, with forbidden pairs and zero weights") {
  MatrixD c = uniform_matrix(150, 530, 3, -2, 5);  // 3 x 3 tiles, ragged at the edges
  c(4, 7) = c(100, 7) = eot::kInf;
  c.row(17).setConstant(eot::kInf);   // an empty row
  c.col(301).setConstant(eot::kInf);  // an empty column
  VectorXd h_cols = uniform_matrix(530, 1, 4, -3, 3), h_rows = uniform_matrix(150, 1, 5, -3, 3);
  h_cols[9] = -eot::kInf;  // log of a zero weight
  h_rows[3] = -eot::kInf;
  const eot::CostMatrix<double> geometry(c);
  CHECK(geometry.may_forbid());
  CHECK(geometry.known_cost_bounds().min == c.minCoeff());
  CHECK(geometry.known_cost_bounds().max ==
        (c.array() < eot::kInf).select(c, -eot::kInf).maxCoeff());
  for (double epsilon : {1e-3, 0.1, 10.0}) {
    CAPTURE(epsilon);
    VectorXd rows, cols;
    geometry.lse_rows(h_cols, epsilon, rows, 2);
    geometry.lse_cols(h_rows, epsilon, cols, 2);
    VectorXd expected_rows = naive_lse_rows(c, h_cols, epsilon);
    VectorXd expected_cols = naive_lse_rows(c.transpose(), h_rows, epsilon);
    CHECK(rows[17] == -eot::kInf);
    CHECK(cols[301] == -eot::kInf);
    rows[17] = expected_rows[17] = cols[301] = expected_cols[301] = 0;
    CHECK(((rows - expected_rows).array().abs() / expected_rows.array().abs().max(1)).maxCoeff() <
          1e-14);
    CHECK(((cols - expected_cols).array().abs() / expected_cols.array().abs().max(1)).maxCoeff() <
          1e-14);
  }
}

TEST_CASE("plan kernels agree with the materialized plan") {
  const eot::PointCloud<double> geometry(uniform_matrix(90, 2, 6), uniform_matrix(270, 2, 7));
  const MatrixD c = dense_costs(geometry);
  const VectorXd alpha = uniform_matrix(90, 1, 8, -1, 1), beta = uniform_matrix(270, 1, 9, -1, 1);
  const double epsilon = 0.05;
  const MatrixD plan = geometry.plan(alpha, beta, epsilon, 2);
  CHECK(plan(5, 11) ==
        doctest::Approx(std::exp(alpha[5] + beta[11] - c(5, 11) / epsilon)).epsilon(1e-14));
  const Eigen::MatrixXd v = uniform_matrix(270, 3, 10), w = uniform_matrix(90, 4, 11);
  CHECK(max_abs_diff(geometry.apply_plan(alpha, beta, epsilon, v, 2), plan * v) < 1e-12);
  CHECK(max_abs_diff(geometry.apply_plan_transpose(alpha, beta, epsilon, w, 2),
                     plan.transpose() * w) < 1e-12);
  CHECK(geometry.transport_cost(alpha, beta, epsilon, 2) ==
        doctest::Approx(plan.cwiseProduct(c).sum()).epsilon(1e-13));
  const eot::CostBounds bounds = geometry.cost_bounds(2);
  CHECK(bounds.min == c.minCoeff());
  CHECK(bounds.max == c.maxCoeff());
}

TEST_CASE("forbidden pairs and zero weights carry exactly no mass") {
  // Large enough for the vectorized exp, which on its own never returns 0.
  MatrixD c = uniform_matrix(40, 70, 12);
  for (Index k = 0; k < 70; k += 3) c(k % 40, k) = eot::kInf;
  const eot::CostMatrix<double> geometry(c);
  VectorXd alpha = VectorXd::Zero(40), beta = VectorXd::Zero(70);
  alpha[7] = -eot::kInf;  // log of a zero weight
  const MatrixD plan = geometry.plan(alpha, beta, 1.0, 1);
  for (Index k = 0; k < 70; k += 3) CHECK(plan(k % 40, k) == 0);
  CHECK(plan.row(7).isZero(0));
  CHECK(geometry.apply_plan(alpha, beta, 1.0, Eigen::MatrixXd::Ones(70, 1), 1)(7, 0) == 0);
  CHECK(std::isfinite(geometry.transport_cost(alpha, beta, 1.0, 1)));
  CHECK(geometry.cost_bounds(1).max < eot::kInf);
}

TEST_CASE("bad geometries are refused with the entry named") {
  MatrixD c = uniform_matrix(3, 4, 13);
  c(2, 1) = std::nan("");
  CHECK(contains(message_of<eot::InvalidArgument>([&] { eot::CostMatrix<double> g(c); }),
                 "cost(2, 1) is nan: costs must be finite, or +inf for a forbidden pair"));
  c(2, 1) = -eot::kInf;
  CHECK(contains(message_of<eot::InvalidArgument>([&] { eot::CostMatrix<double> g(c); }),
                 "cost(2, 1) is -inf"));
  CHECK(contains(message_of<eot::InvalidArgument>([] { eot::CostMatrix<double> g(MatrixD(0, 3)); }),
                 "cost: the matrix is empty (0 x 3)"));
  MatrixD x = uniform_matrix(4, 2, 14), y = uniform_matrix(5, 3, 15);
  CHECK(contains(message_of<eot::InvalidArgument>([&] { eot::PointCloud<double> g(x, y); }),
                 "x has 2 columns and y has 3"));
  x(3, 1) = eot::kInf;
  CHECK(contains(message_of<eot::InvalidArgument>([&] { eot::PointCloud<double> g(x, x); }),
                 "x(3, 1) is inf: coordinates must be finite"));
  CHECK(contains(
      message_of<eot::InvalidArgument>([&] { eot::PointCloud<double> g(MatrixD(0, 2), y); }),
      "x: the point cloud is empty"));
}

TEST_CASE("a cost matrix that borrows memory solves as one that owns it, and keeps its owner") {
  const MatrixD c = uniform_matrix(37, 29, 16);
  auto memory = std::make_shared<MatrixD>(c);  // stands for a NumPy array
  const std::weak_ptr<MatrixD> watch = memory;
  const eot::Problem<double> owned(std::make_shared<eot::CostMatrix<double>>(c), 0.05);
  eot::Result borrowed_result;
  {
    auto borrowed =
        std::make_shared<eot::CostMatrix<double>>(memory->data(), c.rows(), c.cols(), memory);
    CHECK(borrowed->cost().data() == memory->data());  // no copy
    memory.reset();
    CHECK_FALSE(watch.expired());  // the geometry holds it
    borrowed_result = eot::solve(eot::Problem<double>(borrowed, 0.05));
  }
  CHECK(watch.expired());  // and lets it go with the last copy
  const eot::Result result = eot::solve(owned);
  CHECK(borrowed_result.converged());
  CHECK(borrowed_result.f == result.f);
  CHECK(borrowed_result.transport_cost == result.transport_cost);
  MatrixD bad = c;
  bad(4, 5) = std::nan("");
  CHECK(contains(message_of<eot::InvalidArgument>([&] {
                   eot::CostMatrix<double> g(bad.data(), bad.rows(), bad.cols(), nullptr);
                 }),
                 "cost(4, 5) is nan"));
}

namespace {

// A geometry of one's own (docs/library.md, "Your own geometry"): costs from a formula,
// |s_i - t_j| for grids s of [0, 1] (n points) and t of [0, 1] (m points), made tile by tile
// like a point cloud's. Six overrides; every solver, kernel and value then works on it.
template <typename T>
class GridCost final : public eot::Geometry<T> {
 public:
  GridCost(Index n, Index m) : n_(n), m_(m) {}
  Index rows() const override { return n_; }
  Index cols() const override { return m_; }
  std::string describe() const override {
    return "grid " + std::to_string(n_) + " x " + std::to_string(m_);
  }
  bool may_forbid() const override { return false; }
  double bytes() const override { return 0; }
  eot::CostBounds known_cost_bounds() const override { return {0, 1}; }
  typename eot::Geometry<T>::Tile tile(Index i0, Index j0, Index ni, Index nj,
                                       eot::Matrix<T>& scratch) const override {
    if (scratch.size() < ni * nj) scratch.resize(ni, nj);  // the caller's, one per thread
    for (Index i = 0; i < ni; ++i)
      for (Index j = 0; j < nj; ++j)
        scratch.data()[i * nj + j] =
            T(std::abs(double(i0 + i) / double(n_ - 1) - double(j0 + j) / double(m_ - 1)));
    return typename eot::Geometry<T>::Tile(scratch.data(), ni, nj, Eigen::OuterStride<>(nj));
  }

 private:
  Index n_, m_;
};

}  // namespace

TEST_CASE("a Geometry subclass of one's own solves as the same costs stored densely") {
  const Index n = 300, m = 200;  // several tiles each way, with edge tiles
  const auto grid = std::make_shared<GridCost<double>>(n, m);
  MatrixD dense(n, m);
  MatrixD scratch;
  dense = grid->tile(0, 0, n, m, scratch);
  for (double rho_b : {eot::kInf, 0.5}) {
    CAPTURE(rho_b);
    eot::Problem<double> mine(grid, 0.01),
        stored(std::make_shared<eot::CostMatrix<double>>(dense), 0.01);
    mine.rho_b = stored.rho_b = rho_b;
    eot::SolverOptions o;
    o.domain = eot::Domain::Log;  // both through the tiles
    const eot::Result a = eot::solve(mine, o), b = eot::solve(stored, o);
    REQUIRE(a.converged());
    CHECK(a.iterations == b.iterations);
    CHECK((a.f - b.f).cwiseAbs().maxCoeff() < 1e-12);
    CHECK(a.transport_cost == doctest::Approx(b.transport_cost).epsilon(1e-12));
    CHECK(contains(a.full_report(), "grid 300 x 200"));
  }
}
