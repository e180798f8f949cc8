// The distributed solve through eot::mpi, run by ctest under `mpirun -np 2` (and 3): on every
// rank, each regime's distributed result against the same problem solved whole by this process
// alone, repeated runs bit for bit, bad input refused alike on every rank, and an interrupt seen
// by one rank stopping all. Exits 0 when every check passes.
#include <mpi.h>

#include <cmath>
#include <iostream>
#include <random>

#include "eot/eot.hpp"
#include "eot/mpi.hpp"

namespace {

int failures = 0;
int rank = 0;

void expect(bool ok, const std::string& what) {
  if (ok) return;
  ++failures;
  std::cerr << "rank " << rank << ": FAILED: " << what << "\n";
}

bool close(double a, double b, double relative) {
  return std::abs(a - b) <= relative * std::max({std::abs(a), std::abs(b), 1e-300});
}

eot::Matrix<double> random_points(eot::Index n, eot::Index d, unsigned seed) {
  std::mt19937_64 generator(seed);
  std::uniform_real_distribution<double> uniform(0, 1);
  eot::Matrix<double> points(n, d);
  for (eot::Index k = 0; k < points.size(); ++k) points.data()[k] = uniform(generator);
  return points;
}

// One regime: the whole problem here, and this rank's block of it through `ranks`.
template <typename T>
void compare(const std::string& name, const eot::Problem<T>& whole, const eot::Problem<T>& block,
             const eot::SolverOptions& options, const eot::Ranks& ranks) {
  eot::SolverOptions alone = options;
  alone.domain = eot::Domain::Log;
  alone.newton = eot::NewtonMode::Off;  // what the distributed solve runs
  const eot::Result expected = eot::solve(whole, alone);
  const eot::Result got = eot::solve(block, options, ranks);
  const double tight = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  expect(got.status == expected.status, name + ": status " + eot::to_string(got.status));
  expect(got.iterations == expected.iterations, name + ": " + std::to_string(got.iterations) +
                                                    " iterations, alone " +
                                                    std::to_string(expected.iterations));
  expect(got.ranks == ranks.size() && got.n == whole.n() && got.f.size() == whole.n(),
         name + ": the result is the whole problem's");
  expect(got.geometry == expected.geometry, name + ": geometry '" + got.geometry + "'");
  for (const auto& [field, a, b] :
       {std::tuple{"transport_cost", got.transport_cost, expected.transport_cost},
        {"primal", got.primal, expected.primal},
        {"dual", got.dual, expected.dual},
        {"entropy", got.entropy, expected.entropy},
        {"mass", got.mass, expected.mass}}) {
    expect(close(a, b, tight),
           name + ": " + field + " " + std::to_string(a) + " vs " + std::to_string(b));
  }
  // Residuals and potentials: against the scale they live at.
  const double scale = std::max(1.0, expected.f.cwiseAbs().maxCoeff());
  expect((got.f - expected.f).cwiseAbs().maxCoeff() <= tight * scale, name + ": f");
  expect((got.g - expected.g).cwiseAbs().maxCoeff() <= tight * scale, name + ": g");
  expect((got.row_marginal - expected.row_marginal).cwiseAbs().maxCoeff() <= tight,
         name + ": row marginal");
  expect(std::abs(got.marginal_error - expected.marginal_error) <= tight * expected.mass,
         name + ": marginal error");
  const eot::Result again = eot::solve(block, options, ranks);
  expect(again.f == got.f && again.g == got.g && again.primal == got.primal &&
             again.marginal_error == got.marginal_error,
         name + ": a repeated run is bitwise the same");
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  {
    const eot::mpi::Communicator world(MPI_COMM_WORLD);
    rank = world.rank();
    const eot::Index n = 203, m = 157, d = 3;
    const eot::RowRange rows = eot::row_block(n, world.rank(), world.size());
    const eot::Matrix<double> x = random_points(n, d, 1), y = random_points(m, d, 2);
    Eigen::VectorXd a = random_points(n, 1, 3).col(0).array() + 0.1;
    Eigen::VectorXd b = random_points(m, 1, 4).col(0).array() + 0.1;
    a /= a.sum();
    b /= b.sum();

    auto whole_cloud = std::make_shared<eot::PointCloud<double>>(x, y);
    auto block_cloud =
        std::make_shared<eot::PointCloud<double>>(x.middleRows(rows.begin, rows.size()), y);
    eot::Problem<double> whole(whole_cloud, 0.01), block(block_cloud, 0.01);
    whole.a = a;
    whole.b = block.b = b;
    block.a = a.segment(rows.begin, rows.size());
    eot::SolverOptions options;
    for (const auto& [name, rho_a, rho_b] : {std::tuple{"balanced", eot::kInf, eot::kInf},
                                             {"semi-relaxed", eot::kInf, 0.5},
                                             {"unbalanced", 0.3, 2.0},
                                             {"one-sided", eot::kInf, 0.0}}) {
      whole.rho_a = block.rho_a = rho_a;
      whole.rho_b = block.rho_b = rho_b;
      compare(name, whole, block, options, world);
    }
    whole.rho_a = block.rho_a = whole.rho_b = block.rho_b = eot::kInf;

    eot::SolverOptions scaled;  // epsilon scaling: the stages start from the whole cost range
    scaled.epsilon_scaling.enabled = true;
    compare("epsilon scaling", whole, block, scaled, world);

    // A dense cost with forbidden pairs, in float.
    eot::Matrix<float> cost = (random_points(n, m, 5) * 3).cast<float>();
    for (eot::Index i = 0; i < n; i += 7) cost(i, (i * 13) % m) = float(eot::kInf);
    eot::Problem<float> dense_whole(std::make_shared<eot::CostMatrix<float>>(cost), 0.1);
    eot::Problem<float> dense_block(
        std::make_shared<eot::CostMatrix<float>>(cost.middleRows(rows.begin, rows.size()).eval()),
        0.1);
    dense_whole.a = a.cast<float>();
    dense_whole.b = dense_block.b = b.cast<float>();
    dense_block.a = a.segment(rows.begin, rows.size()).cast<float>();
    compare("dense float", dense_whole, dense_block, options, world);

    // Bad input on one rank only (the last row's weight): every rank throws the same, with the
    // row's index in the whole problem.
    eot::Problem<double> bad = block;
    if (world.rank() == world.size() - 1) bad.a[bad.a.size() - 1] = -1;
    std::string message;
    try {
      eot::solve(bad, options, world);
    } catch (const eot::InvalidArgument& e) {
      message = e.what();
      expect(e.field() == "a" && e.index() == n - 1, "bad input: field and index");
    }
    expect(message.rfind("a(" + std::to_string(n - 1) + ") is -1", 0) == 0,
           "bad input: every rank refuses it alike: '" + message + "'");

    // A callback on rank 0 alone, which stops at its first call: every rank stops there.
    eot::SolverOptions watched;
    if (world.rank() == 0)
      watched.callback = [](const eot::IterationInfo&) { return eot::CallbackAction::Stop; };
    const eot::Result stopped = eot::solve(block, watched, world);
    expect(stopped.status == eot::Status::StoppedByCallback && stopped.iterations == 10,
           "a callback on rank 0 only stops every rank at the first check");

    // What needs the whole plan in one process is refused alike on every rank.
    eot::SolverOptions kernel;
    kernel.domain = eot::Domain::Kernel;
    std::string refused;
    try {
      eot::solve(block, kernel, world);
    } catch (const eot::InvalidArgument& e) {
      refused = e.what();
    }
    expect(refused.find("runs in the log domain without the Newton stage") != std::string::npos,
           "the kernel domain is refused: '" + refused + "'");

    // Inputs every rank must share, different on one rank: refused alike on every rank.
    eot::Problem<double> other = block;
    if (world.rank() == 1) other.b[0] *= 1 + 1e-12;
    std::string disagree;
    try {
      eot::solve(other, options, world);
    } catch (const eot::InvalidArgument& e) {
      disagree = e.what();
    }
    expect(disagree.rfind("the ranks disagree on b", 0) == 0,
           "a different b on rank 1 is refused: '" + disagree + "'");

    // An interrupt seen by one rank stops every rank.
    std::atomic<bool> stop{world.rank() == 0};
    eot::SolverOptions interrupted;
    interrupted.interrupt = &stop;
    expect(eot::solve(block, interrupted, world).status == eot::Status::Interrupted,
           "an interrupt on rank 0 stops every rank");
  }
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) std::cout << (total == 0 ? "every check passed" : "checks failed") << "\n";
  MPI_Finalize();
  return total == 0 ? 0 : 1;
}
