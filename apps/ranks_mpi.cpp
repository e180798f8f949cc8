// Built with MPI: under mpirun, the ranks of MPI_COMM_WORLD.
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "eot/mpi.hpp"
#include "ranks.hpp"

namespace eot::cli {

namespace {
std::unique_ptr<mpi::Communicator> communicator;
}

void start_ranks(int& argc, char**& argv) {
  if (!mpi::launched()) return;
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  if (provided < MPI_THREAD_FUNNELED) {  // eot's worker threads make no MPI call; the main one does
    std::fprintf(stderr, "eot: this MPI library does not support threads (MPI_THREAD_FUNNELED)\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  communicator = std::make_unique<mpi::Communicator>(MPI_COMM_WORLD);
  if (communicator->rank() != 0) {  // rank 0 speaks for the run
    const int null = open("/dev/null", O_WRONLY);
    std::fflush(nullptr);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    close(null);
  }
}

void end_ranks() {
  if (!communicator) return;
  communicator.reset();
  MPI_Finalize();
}

const Ranks& world() {
  return communicator ? *communicator : Ranks::single();
}

Matrix<double> gather_rows(Matrix<double> block) {
  return communicator ? communicator->gather_rows(block) : block;
}

}  // namespace eot::cli
