// eot::mpi: the distributed solve (eot/distributed.hpp) over MPI. A separate library (link
// eot::mpi) so that the core never depends on MPI; docs/library.md has a complete example.
#pragma once

#include <mpi.h>

#include "eot/distributed.hpp"

namespace eot::mpi {

// The ranks of an MPI communicator. MPI must be initialized (at least MPI_THREAD_FUNNELED: only
// the thread that calls solve() makes MPI calls) and `comm` must outlive this object.
// Reductions go to rank 0 in rank order (non-commutative operations) and are broadcast from
// there: every rank gets the same bits, and a run on as many ranks repeats them.
class Communicator final : public Ranks {
 public:
  explicit Communicator(MPI_Comm comm);
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void sum(double* values, int count) const override;
  void max(double* values, int count) const override;
  void log_sum_exp(double* values, int count) const override;
  std::vector<double> all_gather(const std::vector<double>& local) const override;
  std::string broadcast(const std::string& text, int root) const override;
  // Every rank's block of rows (the same number of columns), stacked in rank order on rank
  // `root`; empty elsewhere. For a whole-problem output, e.g. the plan.
  Matrix<double> gather_rows(const Matrix<double>& block, int root = 0) const;
  MPI_Comm comm() const { return comm_; }

 private:
  void reduce(double* values, int count, MPI_Op op) const;
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

// True if this process was started by an MPI launcher (mpirun, mpiexec; Open MPI's or PMIx's
// variables are set): the command line then initializes MPI, and only then.
bool launched();

}  // namespace eot::mpi
