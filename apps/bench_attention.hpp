// eot bench-attention: times the attention kernels on random data (see docs/benchmarks.md).
#pragma once

#include <vector>

#include "common.hpp"

namespace eot::cli {

// Times attention::forward_batched and attention::backward_batched in float on seeded random
// q, k, v of `heads` heads per length, best of `repeats`, on `threads` threads; prints a table,
// or one JSON object if `json`. Returns the exit code.
int bench_attention(const std::vector<Index>& lengths, Index heads, Index d, int threads,
                    int repeats, bool json);

void add_bench_attention_command(CLI::App& app, Runner& run);

}  // namespace eot::cli
