// The library guide's distributed example (docs/library.md, "Distributed solves"), built against
// the installed package and run under `mpirun -np 2` by the consumer test: exits 0 when the
// answer is right.
#include <eot/mpi.hpp>
#include <iostream>
#include <random>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int code = 0;
  {
    const eot::mpi::Communicator world(MPI_COMM_WORLD);

    // The whole problem: n points x and m points y in the unit square. Each rank needs only its
    // block of the rows of x (here every rank draws them all; eot::io::read_row_block reads
    // only a rank's rows of a file).
    const eot::Index n = 1000, m = 800;
    std::mt19937_64 generator(7);
    std::uniform_real_distribution<double> uniform(0, 1);
    eot::Matrix<double> x(n, 2), y(m, 2);
    for (eot::Index k = 0; k < x.size(); ++k) x.data()[k] = uniform(generator);
    for (eot::Index k = 0; k < y.size(); ++k) y.data()[k] = uniform(generator);

    // This rank's block: its rows of x, all of y, and its rows' weights. The weights are the
    // whole problem's: uniform over all n rows (a Problem's default, 1 / rows, would give each
    // block mass 1).
    const eot::RowRange rows = eot::row_block(n, world.rank(), world.size());
    auto block =
        std::make_shared<eot::PointCloud<double>>(x.middleRows(rows.begin, rows.size()), y);
    eot::Problem<double> problem(block, /*epsilon=*/0.01);
    problem.a.setConstant(1.0 / n);

    // Every rank calls solve() and gets the whole answer: f has all n rows.
    const eot::Result result = eot::solve(problem, eot::SolverOptions{}, world);
    if (world.rank() == 0) std::cout << result.full_report();
    code = result.converged() && result.f.size() == n && result.ranks == world.size() ? 0 : 1;
  }
  MPI_Finalize();
  return code;
}
