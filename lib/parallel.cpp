#include "eot/parallel.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <fstream>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "eot/error.hpp"

namespace eot {

namespace {

void pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// About 20-60 microseconds of pause instructions: long enough to catch the next pass of a
// solve without a sleep and a wake-up, short enough not to matter on a busy machine.
constexpr int kSpins = 1 << 12;

// The CPU quota of a cgroup v2 container ("max 100000" when there is none), rounded up.
int quota_cpus() {
  std::ifstream file("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (!(file >> quota >> period) || quota == "max" || period <= 0) return 0;
  const double cpus = std::stod(quota) / period;
  return cpus > 0 ? std::max(1, int(std::ceil(cpus))) : 0;
}

int default_threads() {
  int cpus = int(std::thread::hardware_concurrency());
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
#endif
  if (const int quota = quota_cpus(); quota > 0) cpus = std::min(cpus, quota);
  return std::clamp(cpus, 1, kMaxThreads);
}

void run_here(Index count, void (*task)(void*, Index), void* context) {
  for (Index k = 0; k < count; ++k) task(context, k);
}

class Pool {
 public:
  // Never destroyed: a thread may still be in run() while the program exits.
  static Pool& instance() {
    static Pool* pool = new Pool;
    return *pool;
  }

  // Runs the tasks with up to `helpers` workers, or inline if the pool is busy.
  void run(Index count, int helpers, void (*task)(void*, Index), void* context) {
    // One job at a time: a call from inside a task, or from another thread meanwhile, runs
    // its tasks itself.
    if (busy_.exchange(true, std::memory_order_acquire)) {
      run_here(count, task, context);
      return;
    }
    helpers = grow(helpers);
    std::uint64_t generation;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation = ++generation_;
      job_ = {task, context, count};
      done_.store(0, std::memory_order_relaxed);
      helpers_left_.store(helpers, std::memory_order_relaxed);
      error_ = nullptr;
      ticket_.store(generation << 32, std::memory_order_release);
      published_.store(generation, std::memory_order_release);
    }
    wake_.notify_all();
    work(generation, job_);
    wait_done(count);
    std::exception_ptr error = error_;
    busy_.store(false, std::memory_order_release);
    if (error) std::rethrow_exception(error);
  }

 private:
  struct Job {
    void (*task)(void*, Index) = nullptr;
    void* context = nullptr;
    Index count = 0;
  };

  Pool() = default;

  // Starts workers up to `helpers`; returns how many take part (fewer if the system refuses
  // more threads: the job then runs with those).
  int grow(int helpers) {
    while (int(workers_.size()) < helpers) {
      try {
        workers_.emplace_back([this, seen = generation_] { loop(seen); });
      } catch (const std::system_error&) {
        break;
      }
    }
    return std::min(helpers, int(workers_.size()));
  }

  // Claims and runs tasks of `generation` until none is left. A thread holding a job that has
  // ended (the ticket moved on to another generation) claims nothing.
  void work(std::uint64_t generation, const Job& job) {
    std::uint64_t ticket = ticket_.load(std::memory_order_acquire);
    for (;;) {
      if (std::uint32_t(ticket >> 32) != std::uint32_t(generation) ||
          Index(ticket & 0xffffffffu) >= job.count)
        return;
      if (!ticket_.compare_exchange_weak(ticket, ticket + 1, std::memory_order_acq_rel)) continue;
      const Index k = Index(ticket & 0xffffffffu);
      try {
        job.task(job.context, k);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == job.count) {
        std::lock_guard<std::mutex> lock(mutex_);
        finished_.notify_all();
      }
      ticket = ticket_.load(std::memory_order_acquire);
    }
  }

  void wait_done(Index count) {
    for (int spin = 0; spin < kSpins; ++spin) {
      if (done_.load(std::memory_order_acquire) == count) return;
      pause();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return done_.load(std::memory_order_acquire) == count; });
  }

  void loop(std::uint64_t seen) {
    for (;;) {
      // Spin a little for the next job, then sleep until one is published.
      for (int spin = 0; spin < kSpins && published_.load(std::memory_order_acquire) == seen;
           ++spin)
        pause();
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        job = job_;
      }
      // Only as many workers as the job asked for take part.
      if (helpers_left_.fetch_sub(1, std::memory_order_acq_rel) > 0) work(seen, job);
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, finished_;
  std::vector<std::thread> workers_;  // touched only by the thread holding busy_
  std::atomic<bool> busy_{false};
  // Guarded by mutex_: the current job and its generation, the first exception.
  std::uint64_t generation_ = 0;
  Job job_;
  std::exception_ptr error_;
  // The generation again, for the workers' spin; (generation << 32) | next task index; tasks
  // finished; workers that may still join the job.
  std::atomic<std::uint64_t> published_{0}, ticket_{0};
  std::atomic<Index> done_{0};
  std::atomic<int> helpers_left_{0};
};

}  // namespace

void check_threads(int threads, const char* name) {
  if (threads < 0 || threads > kMaxThreads) {
    throw InvalidArgument(std::string(name) + " is " + std::to_string(threads) +
                          ": it must be in [0, " + std::to_string(kMaxThreads) +
                          "] (0 = every CPU this process may use)");
  }
}

int thread_count(int threads) {
  check_threads(threads);
  static const int cpus = default_threads();
  return threads > 0 ? threads : cpus;
}

namespace detail {

void run_parallel(Index count, int threads, void (*task)(void*, Index), void* context) {
  if (count <= 0) return;
  const int helpers = int(std::min<Index>(thread_count(threads), count)) - 1;
  if (helpers == 0 || count >= (Index(1) << 31))
    run_here(count, task, context);
  else
    Pool::instance().run(count, helpers, task, context);
}

}  // namespace detail

}  // namespace eot
