#include "eot/distributed.hpp"

#include <stdexcept>

#include "eot/error.hpp"

namespace eot {

namespace {

class SingleRank final : public Ranks {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(double*, int) const override {}
  void max(double*, int) const override {}
  void log_sum_exp(double*, int) const override {}
  std::vector<double> all_gather(const std::vector<double>& local) const override { return local; }
  std::string broadcast(const std::string& text, int) const override { return text; }
};

// What agree() carries from the failing rank: the exception's class.
enum Kind { kInvalidArgument, kOutputError, kIoError, kOther };

}  // namespace

const Ranks& Ranks::single() {
  static const SingleRank one;
  return one;
}

RowRange row_block(Index n, int rank, int ranks) {
  return {n * rank / ranks, n * (rank + 1) / ranks};
}

void agree(const Ranks& ranks, const std::function<void()>& step) {
  if (ranks.size() == 1) return step();
  std::string message, field;
  double failed = -ranks.size();  // -(the lowest failing rank)
  double kind = kOther, index = -1;
  try {
    step();
  } catch (const std::exception& e) {
    failed = -ranks.rank();
    message = e.what();
    if (const auto* invalid = dynamic_cast<const InvalidArgument*>(&e)) {
      kind = kInvalidArgument;
      field = invalid->field();
      index = double(invalid->index());
    } else if (dynamic_cast<const OutputError*>(&e)) {
      kind = kOutputError;
    } else if (dynamic_cast<const IoError*>(&e)) {
      kind = kIoError;
    }
  }
  ranks.max(&failed, 1);
  const int first = int(-failed);
  if (first == ranks.size()) return;
  // The failing rank's kind and index: every other rank offers the smallest value.
  double from_first[] = {ranks.rank() == first ? kind : -1, ranks.rank() == first ? index : -2};
  ranks.max(from_first, 2);
  message = ranks.broadcast(message, first);
  switch (int(from_first[0])) {
    case kInvalidArgument:
      throw InvalidArgument(message, ranks.broadcast(field, first), (long long)from_first[1]);
    case kOutputError:
      throw OutputError(message);
    case kIoError:
      throw IoError(message);
    default:
      throw std::runtime_error(message);
  }
}

}  // namespace eot
