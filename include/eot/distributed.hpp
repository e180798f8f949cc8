// One problem solved by several processes (ranks), each holding a block of its rows.
//
// Rank k holds rows [offset_k, offset_k + n_k) of the cost: its block of x (or of the dense
// cost) with all of y, and its rows' weights a with all of b. Log-domain Sinkhorn splits along
// that cut: the f-update is local to each rank's rows; the g-update's log-sum-exp over all rows
// is each rank's log-sum-exp over its own rows, merged across ranks (docs/conventions.md,
// "Distributed solves"). The other global quantities (masses, the marginal error, the reported
// values) are sums or maxima over ranks.
//
// The core library does not know how ranks talk: `Ranks` is that transport. eot::mpi (include
// eot/mpi.hpp, link eot::mpi) implements it over an MPI communicator; a single process is
// `Ranks::single()`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "eot/problem.hpp"
#include "eot/solver.hpp"

namespace eot {

class Ranks {
 public:
  virtual ~Ranks() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Collectives: every rank calls them in the same order with the same count. Element-wise
  // over ranks, in place. Every rank gets the same bits, and repeated runs on as many ranks the
  // same bits again (a fixed combination order).
  virtual void sum(double* values, int count) const = 0;
  virtual void max(double* values, int count) const = 0;
  // log sum_r exp(values_r): -inf when every term is -inf.
  virtual void log_sum_exp(double* values, int count) const = 0;
  // Every rank's `local` (sizes may differ), concatenated in rank order, on every rank.
  virtual std::vector<double> all_gather(const std::vector<double>& local) const = 0;
  // Rank `root`'s text, on every rank.
  virtual std::string broadcast(const std::string& text, int root) const = 0;

  // One process: every collective leaves its values as they are.
  static const Ranks& single();
};

// The solve of a problem whose rows are split over ranks: every rank calls it with its block
// (`block.geometry` holds its rows, `block.a` their weights, `block.b` all of b; the blocks in
// rank order make the whole problem) and the same options (initial_f: the block's rows). What
// every rank must share is compared: m, b, epsilon, rho, the options and initial_g differing
// between ranks are refused; the columns' geometry itself (y) is not compared.
// Every rank returns the same Result, the whole problem's: n is the total row count, f and
// row_marginal have every row (rank order), and `ranks` is ranks.size(). The iterations run in
// the log domain, without the Newton stage (both need the whole plan's rows on one process):
// Domain::Kernel and NewtonMode::On are refused.
// Bad input throws the same InvalidArgument on every rank (indices of rows are global).
// SolverOptions::interrupt is each rank's own: once it is true on any rank, every rank stops
// at the next update and returns Status::Interrupted. The callback runs on every rank, and the
// strongest action any rank's returns is every rank's (Abort, then Stop). solve_time_seconds
// is each rank's own clock.
template <typename T>
Result solve(const Problem<T>& block, const SolverOptions& options, const Ranks& ranks);
// The checks of validate(), over the whole problem, with the same agreement on every rank.
template <typename T>
void validate(const Problem<T>& block, const SolverOptions& options, const Ranks& ranks);

// Runs `step` on every rank and makes one verdict of it: if it throws on any rank, every rank
// throws the exception of the lowest such rank (InvalidArgument with its field and index,
// OutputError, IoError; any other std::exception as std::runtime_error with its message).
// A collective: for a step whose failure one rank alone may see, e.g. reading its block.
void agree(const Ranks& ranks, const std::function<void()>& step);

// The rows rank `rank` of `ranks` holds when n rows are split as evenly as possible:
// [n rank / ranks, n (rank + 1) / ranks).
struct RowRange {
  Index begin = 0, end = 0;
  Index size() const { return end - begin; }
};
RowRange row_block(Index n, int rank, int ranks);

extern template Result solve(const Problem<float>&, const SolverOptions&, const Ranks&);
extern template Result solve(const Problem<double>&, const SolverOptions&, const Ranks&);
extern template void validate(const Problem<float>&, const SolverOptions&, const Ranks&);
extern template void validate(const Problem<double>&, const SolverOptions&, const Ranks&);

}  // namespace eot
