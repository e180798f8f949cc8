// The library guide's example (docs/library.md), built against the installed package by the
// consumer test: exits 0 when the answers are right.
#include <eot/eot.hpp>
#include <iostream>

int main() {
  // Two point clouds in the plane; the cost |x - y|^2 is computed on the fly.
  eot::Matrix<double> x(3, 2), y(4, 2);
  x << 0, 0, 1, 0, 0, 1;
  y << 0, 0.1, 1, 0.1, 0, 1.1, 0.5, 0.5;
  auto cloud = std::make_shared<eot::PointCloud<double>>(x, y, eot::Metric::SqEuclidean);

  // Balanced: uniform weights of mass 1 on both sides, hard constraints.
  eot::Problem<double> problem(cloud, /*epsilon=*/0.01);
  eot::SolverOptions options;
  options.tolerance = 1e-10;
  eot::Result result = eot::solve(problem, options);
  std::cout << result.full_report();
  if (!result.converged()) return 1;

  // The plan on request, and P V without forming it.
  eot::Matrix<double> plan = problem.plan(result.f, result.g);
  Eigen::MatrixXd moved = problem.apply_plan(result.f, result.g, y) * 3;  // barycentric map
  std::cout << "plan row sums: " << plan.rowwise().sum().transpose() << "\n"
            << "x0 goes to (" << moved.row(0) << ")\n";

  // Unbalanced: relax both sides with a KL penalty; the same problem type.
  problem.rho_a = problem.rho_b = 0.5;
  std::cout << eot::solve(problem, options).brief_report() << "\n";
  return std::abs(plan.sum() - 1) < 1e-9 && result.gap < 1e-8 ? 0 : 1;
}
