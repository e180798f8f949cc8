// Memory: a dense array that cannot fit is refused up front, with a message that says what to
// do instead, rather than failing in the allocator or being killed by the system when the
// pages are first touched (Linux overcommits).
#pragma once

#include <cstdint>
#include <string>

#include "eot/types.hpp"

namespace eot {

// Bytes the system can give this process now: MemAvailable from /proc/meminfo on Linux, else
// the physical memory; 0 if unknown (then nothing is refused).
std::uint64_t available_memory();

// Throws InvalidArgument when a rows x cols array of `bytes_per_entry` bytes does not fit:
// "<what> (rows x cols) needs X GB but Y GB of memory is available; <advice>".
void require_dense_fits(Index rows, Index cols, std::size_t bytes_per_entry,
                        const std::string& what, const std::string& advice);

// What to do instead of forming an n x m plan.
inline constexpr const char* kPlanAdvice =
    "use the potentials instead (P_ij = a_i b_j exp((f_i + g_j - C_ij) / epsilon)), or products "
    "with the plan (apply_plan: P V without forming P)";

}  // namespace eot
