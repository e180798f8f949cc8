#include "interrupt.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "eot/io.hpp"

namespace eot::cli {

namespace {

std::atomic<bool> interrupted{false};
std::atomic<bool> reported{false};
volatile std::sig_atomic_t received = 0;
int wake[2] = {-1, -1};  // the handler writes the signal's number; the watchdog reads it

// How long the command may take to stop by itself (a solve stops within a block of rows)
// before the watchdog ends the process.
constexpr auto kGrace = std::chrono::milliseconds(500);

static_assert(std::atomic<bool>::is_always_lock_free, "the flag is set from a signal handler");

extern "C" void on_signal(int signal) {
  received = signal;
  interrupted.store(true, std::memory_order_relaxed);
  const unsigned char byte = static_cast<unsigned char>(signal);
  if (write(wake[1], &byte, 1) < 0) {
    // Nothing to do: the flag alone still stops the solver's passes.
  }
}

std::string message(int signal) {
  return std::string("interrupted by ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") +
         "; no output was written";
}

// Waits for the first signal; then no output may be replaced any more, and a command that has
// not stopped within kGrace (reading a file, the exact solver, an attention kernel, writing)
// is ended here, its temporaries removed.
void watchdog() {
  unsigned char signal = 0;
  while (read(wake[0], &signal, 1) < 0 && errno == EINTR) {
  }
  io::cancel_writes();
  std::this_thread::sleep_for(kGrace);
  report_interrupt(signal);
  std::fflush(stdout);
  _exit(128 + signal);
}

}  // namespace

Interrupted::Interrupted(int signal) : std::runtime_error(message(signal)), signal(signal) {}

void install_interrupt_handlers() {
  if (pipe(wake) != 0) return;  // the flag alone: solves still stop
  std::thread(watchdog).detach();
  struct sigaction action = {};
  action.sa_handler = on_signal;
  action.sa_flags = SA_RESETHAND;  // the second signal takes the default action
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

const std::atomic<bool>* interrupt_flag() {
  return &interrupted;
}

void throw_if_interrupted() {
  if (interrupted.load(std::memory_order_relaxed)) throw Interrupted(received);
}

int interrupt_signal() {
  return interrupted.load(std::memory_order_relaxed) ? int(received) : 0;
}

void report_interrupt(int signal) {
  if (reported.exchange(true)) return;
  if (isatty(STDERR_FILENO)) std::fputs("\n", stderr);  // end a progress line
  std::fprintf(stderr, "eot: %s\n", message(signal).c_str());
  std::fflush(stderr);
}

}  // namespace eot::cli
