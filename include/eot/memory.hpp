// Memory: a dense array that cannot fit is refused up front, with a message that says what to
// do instead, rather than failing in the allocator or being killed by the system when the
// pages are first touched (Linux overcommits).
#pragma once

#include <cstdint>
#include <string>

#include "eot/types.hpp"

namespace eot {

// Bytes the system can give this process now: MemAvailable from /proc/meminfo on Linux (else
// the physical memory), and no more than its container allows (cgroup v2 memory.max less
// memory.current); 0 if unknown (then nothing is refused).
std::uint64_t available_memory();

// The bytes a solve's dense arrays may take together: `limit` (SolverOptions::memory_limit,
// --memory-limit) if it is > 0, and never more than available_memory().
double memory_budget(std::uint64_t limit);

// Parses a byte count: a number with an optional suffix K, M, G or T (powers of 1024), e.g.
// "400M", "1.5G", "1000000". Throws InvalidArgument naming `name` otherwise.
std::uint64_t parse_bytes(const std::string& text, const std::string& name = "memory_limit");

// "3.2 GB", "512 MB", "7.4 kB" (powers of 1000, three significant digits).
std::string format_bytes(double bytes);

// Throws InvalidArgument when a rows x cols array of `bytes_per_entry` bytes does not fit
// beside `in_use` bytes already held in memory_budget(limit):
// "<what> (rows x cols) needs X GB but Y GB of memory is available; <advice>".
void require_dense_fits(Index rows, Index cols, double bytes_per_entry, const std::string& what,
                        const std::string& advice, std::uint64_t limit = 0, double in_use = 0);

// What to do instead of forming an n x m plan.
inline constexpr const char* kPlanAdvice =
    "use the potentials instead (P_ij = a_i b_j exp((f_i + g_j - C_ij) / epsilon)), or products "
    "with the plan (apply_plan: P V without forming P)";

}  // namespace eot
