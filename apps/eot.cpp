// The `eot` command line: parses, reads files, calls the library, writes results, and maps how
// the run ended to an exit code. No algorithm lives in apps/.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "bench_attention.hpp"
#include "common.hpp"
#include "interrupt.hpp"

int main(int argc, char** argv) {
  using namespace eot::cli;
  CLI::App app{"eot: entropic optimal transport (Sinkhorn, log and kernel domains)"};
  app.footer(std::string("Files: .csv or .txt (numbers separated by commas or spaces, one row per "
                         "line, # comments) or .npy.\n") +
             kExitCodes);
  app.set_version_flag("--version", std::string("eot ") + eot::kVersion +
                                        " (kernels: " + eot::instruction_set() + ")");
  app.require_subcommand(1);
  Runner run;
  add_solve_command(app, run);
  add_attention_command(app, run);
  add_sweep_command(app, run);
  add_exact_command(app, run);
  add_divergence_command(app, run);
  add_barycenter_command(app, run);
  add_demo_command(app, run);
  add_bench_command(app, run);
  add_bench_attention_command(app, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const std::string command =
        app.get_subcommands().empty() ? "" : app.get_subcommands()[0]->get_name() + " ";
    std::cerr << "eot: " << e.what() << " (see eot " << command << "--help)\n";
    return kBadInput;
  }
  install_interrupt_handlers();
  int code = kInternal;
  try {
    code = run();
  } catch (const std::exception& e) {
    // After a signal, whatever ended the command (a read cut short, a write refused) is the
    // interrupt.
    if (const int signal = interrupt_signal()) {
      report_interrupt(signal);
      exit_interrupted(signal);
    }
    if (const auto* interrupted = dynamic_cast<const Interrupted*>(&e)) {
      report_interrupt(interrupted->signal);
      exit_interrupted(interrupted->signal);
    }
    if (dynamic_cast<const eot::OutputError*>(&e)) {
      std::cerr << "eot: " << e.what() << "\n";
      return kOutputFailed;
    }
    const bool bad_input = dynamic_cast<const eot::InvalidArgument*>(&e) != nullptr ||
                           dynamic_cast<const eot::IoError*>(&e) != nullptr;
    std::cerr << "eot: " << (bad_input ? "" : "internal error: ") << e.what() << "\n";
    return bad_input ? kBadInput : kInternal;
  }
  // What was printed must have reached its destination (a full disk, a closed pipe).
  std::cout.flush();
  if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::cerr << "eot: cannot write the standard output: " << std::strerror(errno) << "\n";
    return kOutputFailed;
  }
  return code;
}
