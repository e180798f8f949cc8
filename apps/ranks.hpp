// The processes one run of eot is: one, or under mpirun the ranks of MPI_COMM_WORLD, each with
// a block of the rows (eot/distributed.hpp). apps/ranks_mpi.cpp when built with MPI, else
// apps/ranks_single.cpp.
#pragma once

#include "eot/distributed.hpp"

namespace eot::cli {

// Initializes MPI when started by mpirun (and only then); every rank but 0 then writes nothing
// on stdout and stderr. Call first thing in main().
void start_ranks(int& argc, char**& argv);
// Ends MPI, if started; after the last collective, before main returns.
void end_ranks();
// The ranks of this run: Ranks::single() without mpirun.
const Ranks& world();
// Every rank's block of rows, stacked in rank order on rank 0 (empty elsewhere).
Matrix<double> gather_rows(Matrix<double> block);

}  // namespace eot::cli
