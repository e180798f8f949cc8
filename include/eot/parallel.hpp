// How eot uses the machine: the instruction set its kernels run with, and its one threading
// layer, a small pool of worker threads that share out numbered tasks. Every parallel pass of
// eot (the Sinkhorn passes, the kernel domain's products, the attention kernels) runs on it,
// and a program linking eot may use it too.
//
// The pool is built for machines that are doing other things. A task is claimed by whichever
// thread gets to it first, the calling thread among them, and the caller waits only for tasks
// that another thread has started: a worker that the system has not scheduled yet never holds
// the pass up (a barrier would, for a whole time slice: that made two 2-thread solves side by
// side 34 times slower than two 1-thread ones). Waiting threads spin for some microseconds and
// then sleep; they never burn a core for long.
#pragma once

#include <type_traits>

#include "eot/types.hpp"

namespace eot {

// The largest accepted thread count.
inline constexpr int kMaxThreads = 1024;

// What a `threads` argument means: itself if > 0, else the CPUs this process may use (its
// affinity mask, and the CPU quota of its container if it has one). Throws InvalidArgument if
// `threads` is negative or above kMaxThreads.
int thread_count(int threads);

// Throws InvalidArgument unless 0 <= threads <= kMaxThreads ("<name> is -3: ...").
void check_threads(int threads, const char* name = "threads");

// The instruction set the hot loops run with, chosen once at start-up: "avx512", "avx2" or
// "baseline" (x86-64's SSE2), the best this CPU supports unless the environment variable
// EOT_ISA names a lower one; "native" in a build with EOT_NATIVE (-march=native).
const char* instruction_set();

namespace detail {
void run_parallel(Index count, int threads, void (*task)(void*, Index), void* context);
}  // namespace detail

// Calls task(k) for k = 0 .. count - 1, on up to thread_count(threads) threads, and returns
// when all are done. Tasks run in any order and on any thread: a task writing only its own
// outputs makes the result independent of the thread count. A call made from inside a task,
// or while another thread of the program has a parallel_for running, runs its tasks on the
// calling thread. If tasks throw, the first exception is rethrown once all have ended.
template <typename Task>
void parallel_for(Index count, int threads, Task&& task) {
  detail::run_parallel(
      count, threads,
      [](void* context, Index k) { (*static_cast<std::remove_reference_t<Task>*>(context))(k); },
      const_cast<void*>(static_cast<const void*>(&task)));
}

}  // namespace eot
