#include "interrupt.hpp"

#include <csignal>
#include <string>

namespace eot::cli {

namespace {

std::atomic<bool> interrupted{false};
volatile std::sig_atomic_t received = 0;

static_assert(std::atomic<bool>::is_always_lock_free, "the flag is set from a signal handler");

extern "C" void on_signal(int signal) {
  received = signal;
  interrupted.store(true, std::memory_order_relaxed);
}

}  // namespace

Interrupted::Interrupted(int signal)
    : std::runtime_error(std::string("interrupted by ") +
                         (signal == SIGINT ? "SIGINT" : "SIGTERM") + "; no output was written"),
      signal(signal) {}

void install_interrupt_handlers() {
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

}  // namespace eot::cli
