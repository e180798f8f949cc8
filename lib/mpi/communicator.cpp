#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "eot/error.hpp"
#include "eot/mpi.hpp"

namespace eot::mpi {

namespace {

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw std::runtime_error(std::string("MPI: ") + what + ": " + std::string(text, length));
}

// inout <- in + inout, and inout <- log(exp(in) + exp(inout)), element-wise. Declared
// non-commutative, MPI applies them in rank order.
void add(void* in, void* inout, int* count, MPI_Datatype*) {
  const double* x = static_cast<const double*>(in);
  double* y = static_cast<double*>(inout);
  for (int k = 0; k < *count; ++k) y[k] = x[k] + y[k];
}

// The larger, a NaN over any number (MPI_MAX leaves a NaN's fate to the order of the operands).
void larger(void* in, void* inout, int* count, MPI_Datatype*) {
  const double* x = static_cast<const double*>(in);
  double* y = static_cast<double*>(inout);
  for (int k = 0; k < *count; ++k)
    if (std::isnan(x[k]) || x[k] > y[k]) y[k] = x[k];
}

void log_add_exp(void* in, void* inout, int* count, MPI_Datatype*) {
  const double* x = static_cast<const double*>(in);
  double* y = static_cast<double*>(inout);
  for (int k = 0; k < *count; ++k) {
    const double high = std::max(x[k], y[k]), low = std::min(x[k], y[k]);
    if (high == -std::numeric_limits<double>::infinity()) continue;  // both -inf
    y[k] = high + std::log1p(std::exp(low - high));
  }
}

// The operations, created once (MPI_Op_free at MPI_Finalize is optional).
MPI_Op operation(MPI_User_function* function) {
  MPI_Op op;
  check(MPI_Op_create(function, 0, &op), "MPI_Op_create");
  return op;
}

// At most this many doubles per message (MPI counts are int).
constexpr Index kChunk = Index(1) << 26;

}  // namespace

bool launched() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

Communicator::Communicator(MPI_Comm comm) : comm_(comm) {
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

void Communicator::reduce(double* values, int count, MPI_Op op) const {
  std::vector<double> result(rank_ == 0 ? count : 0);
  check(MPI_Reduce(values, result.data(), count, MPI_DOUBLE, op, 0, comm_), "MPI_Reduce");
  if (rank_ == 0) std::copy(result.begin(), result.end(), values);
  check(MPI_Bcast(values, count, MPI_DOUBLE, 0, comm_), "MPI_Bcast");
}

void Communicator::sum(double* values, int count) const {
  static const MPI_Op op = operation(add);
  reduce(values, count, op);
}

void Communicator::max(double* values, int count) const {
  static const MPI_Op op = operation(larger);
  reduce(values, count, op);
}

void Communicator::log_sum_exp(double* values, int count) const {
  static const MPI_Op op = operation(log_add_exp);
  reduce(values, count, op);
}

std::vector<double> Communicator::all_gather(const std::vector<double>& local) const {
  int count = int(local.size());
  std::vector<int> counts(size_), offsets(size_);
  check(MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_), "MPI_Allgather");
  long long total = 0;
  for (int r = 0; r < size_; ++r) {
    offsets[r] = int(total);
    total += counts[r];
  }
  if (total > std::numeric_limits<int>::max())
    throw std::runtime_error("MPI: all_gather of more than 2^31 values");
  std::vector<double> all(static_cast<std::size_t>(total));
  check(MPI_Allgatherv(local.data(), count, MPI_DOUBLE, all.data(), counts.data(), offsets.data(),
                       MPI_DOUBLE, comm_),
        "MPI_Allgatherv");
  return all;
}

std::string Communicator::broadcast(const std::string& text, int root) const {
  unsigned long long length = text.size();
  check(MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, root, comm_), "MPI_Bcast");
  std::string out = rank_ == root ? text : std::string(length, '\0');
  check(MPI_Bcast(out.data(), int(length), MPI_CHAR, root, comm_), "MPI_Bcast");
  return out;
}

Matrix<double> Communicator::gather_rows(const Matrix<double>& block, int root) const {
  const std::vector<double> rows = all_gather({double(block.rows())});
  Index total = 0;
  for (double r : rows) total += Index(r);
  if (rank_ != root) {
    for (Index at = 0; at < block.size(); at += kChunk) {
      check(MPI_Send(block.data() + at, int(std::min(kChunk, block.size() - at)), MPI_DOUBLE, root,
                     0, comm_),
            "MPI_Send");
    }
    return {};
  }
  Matrix<double> all(total, block.cols());
  Index first = 0;
  for (int r = 0; r < size_; ++r) {
    double* to = all.data() + first * block.cols();
    const Index count = Index(rows[r]) * block.cols();
    if (r == rank_) {
      std::copy(block.data(), block.data() + count, to);
    } else {
      for (Index at = 0; at < count; at += kChunk) {
        check(MPI_Recv(to + at, int(std::min(kChunk, count - at)), MPI_DOUBLE, r, 0, comm_,
                       MPI_STATUS_IGNORE),
              "MPI_Recv");
      }
    }
    first += Index(rows[r]);
  }
  return all;
}

}  // namespace eot::mpi
