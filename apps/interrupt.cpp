#include "interrupt.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <system_error>
#include <thread>

#include "eot/io.hpp"

namespace eot::cli {

namespace {

std::atomic<bool> interrupted{false};
std::atomic<bool> reported{false};
std::atomic<int> received{0};  // the first signal
int wake[2] = {-1, -1};        // the handler writes the signal's number; the watchdog reads it

// How long the command may take to stop by itself (a solve stops within a block of rows)
// before the watchdog ends the process.
constexpr auto kGrace = std::chrono::milliseconds(500);

static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "the flags are set from a signal handler");

extern "C" void on_signal(int signal) {
  // The next SIGINT or SIGTERM, whichever, takes the default action: it ends the process.
  struct sigaction fallback = {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  sigaction(SIGINT, &fallback, nullptr);
  sigaction(SIGTERM, &fallback, nullptr);
  int none = 0;
  received.compare_exchange_strong(none, signal);
  interrupted.store(true, std::memory_order_release);
  const unsigned char byte = static_cast<unsigned char>(signal);
  if (wake[1] >= 0 && write(wake[1], &byte, 1) < 0) {
    // Nothing to do: the flag alone still stops the solver's passes.
  }
}

std::string message(int signal) {
  return std::string("interrupted by ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") +
         "; no output was written";
}

}  // namespace

[[noreturn]] void exit_interrupted(int signal);

namespace {

// Waits for the first signal; then no output may be replaced any more, and a command that has
// not stopped within kGrace (reading a file, the exact solver, an attention kernel, writing)
// is ended here, its temporaries removed.
void watchdog() {
  unsigned char signal = 0;
  while (read(wake[0], &signal, 1) < 0 && errno == EINTR) {
  }
  io::cancel_writes();
  std::this_thread::sleep_for(kGrace);
  // write(2), not stdio: the main thread may hold a stream's lock, blocked on a full pipe.
  if (!reported.exchange(true)) {
    const std::string line =
        std::string(isatty(STDERR_FILENO) ? "\n" : "") + "eot: " + message(signal) + "\n";
    if (write(STDERR_FILENO, line.data(), line.size()) < 0) {
      // Nothing more to do: the exit code says it.
    }
  }
  exit_interrupted(signal);
}

}  // namespace

void exit_interrupted(int signal) {
  // exit_group directly: no atexit handlers or static destructors while other threads are mid-
  // computation (a sanitizer's leak check there stopped them, and the process died by a signal).
  syscall(SYS_exit_group, 128 + signal);
  _exit(128 + signal);  // not reached
}

Interrupted::Interrupted(int signal) : std::runtime_error(message(signal)), signal(signal) {}

void install_interrupt_handlers() {
  // Without the pipe, the flag alone: solves still stop, other phases run to their end.
  if (pipe2(wake, O_CLOEXEC) == 0) {
    try {
      std::thread(watchdog).detach();
    } catch (const std::system_error&) {
    }
  }
  struct sigaction action = {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

const std::atomic<bool>* interrupt_flag() {
  return &interrupted;
}

void throw_if_interrupted() {
  if (interrupted.load(std::memory_order_acquire)) throw Interrupted(received.load());
}

int interrupt_signal() {
  return interrupted.load(std::memory_order_acquire) ? received.load() : 0;
}

void report_interrupt(int signal) {
  if (reported.exchange(true)) return;
  if (isatty(STDERR_FILENO)) std::fputs("\n", stderr);  // end a progress line
  std::fprintf(stderr, "eot: %s\n", message(signal).c_str());
  std::fflush(stderr);
}

}  // namespace eot::cli
