// Ctrl-C and kill: the first SIGINT or SIGTERM sets a flag that long solves watch
// (SolverOptions::interrupt) and stops every output from being written (io::cancel_writes);
// the command then stops and the run exits with 128 + the signal number (130 for SIGINT, 143
// for SIGTERM). Whatever it is doing (reading, the exact solver, an attention kernel,
// writing), a watchdog thread ends it half a second later. A second signal ends the process
// at once, the default way.
#pragma once

#include <atomic>
#include <stdexcept>

namespace eot::cli {

// Thrown by throw_if_interrupted(); main() turns it into the message and the exit code.
struct Interrupted : std::runtime_error {
  explicit Interrupted(int signal);
  int signal;
};

void install_interrupt_handlers();
// The flag to hand to SolverOptions::interrupt.
const std::atomic<bool>* interrupt_flag();
// Call between steps, and before writing outputs.
void throw_if_interrupted();
// The signal received, or 0.
int interrupt_signal();
// Prints "eot: interrupted by SIGINT; no output was written" once (main or the watchdog).
void report_interrupt(int signal);
// Ends the process at once with 128 + signal, running no exit handlers (other threads may be
// mid-computation).
[[noreturn]] void exit_interrupted(int signal);

}  // namespace eot::cli
