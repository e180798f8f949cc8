// The `eot` command line: parses, reads files, calls the library, writes results, and maps how
// the run ended to an exit code. No algorithm lives in apps/.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "bench_attention.hpp"
#include "common.hpp"
#include "interrupt.hpp"
#include "ranks.hpp"

namespace {

// The number of single-letter insertions, deletions and substitutions from a to b.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The candidate a typo of `word` most likely meant: the nearest within a third of its letters
// (at least 2), or a candidate that starts with it; "" if none is that close.
std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    const std::size_t distance =
        candidate.rfind(word, 0) == 0 && word.size() >= 3 ? 1 : edit_distance(word, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

// What a parse error says, with the command or option the user most likely meant.
std::string explain(const CLI::App& app, const CLI::ParseError& error, int argc, char** argv) {
  const auto chosen = app.get_subcommands();
  const CLI::App* command = chosen.empty() ? nullptr : chosen[0];
  const std::string help =
      " (see eot " + (command ? command->get_name() + " " : std::string()) + "--help)";
  if (!command && argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
      names.push_back(sub->get_name());
    const std::string guess = closest(argv[1], names);
    return std::string("unknown command '") + argv[1] + "'" +
           (guess.empty() ? "" : "; did you mean '" + guess + "'?") + " (see eot --help)";
  }
  if (command && dynamic_cast<const CLI::ExtrasError*>(&error)) {
    for (const std::string& extra : command->remaining()) {
      if (extra.rfind("--", 0) != 0) continue;
      const std::string name = extra.substr(0, extra.find('='));
      std::vector<std::string> names;
      for (const CLI::Option* option : command->get_options()) {
        for (const std::string& long_name : option->get_lnames()) names.push_back("--" + long_name);
      }
      const std::string guess = closest(name, names);
      return "unknown option " + name + (guess.empty() ? "" : "; did you mean " + guess + "?") +
             help;
    }
  }
  return error.what() + help;
}

}  // namespace

namespace eot::cli {
namespace {

// The command under mpirun: `eot solve` runs distributed; every other command runs on one
// process, and several would only repeat each other.
int run_command(const CLI::App& app, const Runner& run) {
  const Ranks& ranks = world();
  const CLI::App* command = app.get_subcommands().front();
  if (ranks.size() > 1 && command->get_name() != "solve") {
    throw InvalidArgument("eot " + command->get_name() + " runs on one process, not " +
                          std::to_string(ranks.size()) +
                          " (under mpirun only eot solve is distributed); run it without mpirun");
  }
  return run();
}

int run_main(int argc, char** argv) {
  CLI::App app{"eot: entropic optimal transport (Sinkhorn, log and kernel domains)"};
  app.footer(std::string("Files: .csv or .txt (numbers separated by commas or spaces, one row per "
                         "line, # comments, a first line of names skipped) or .npy (float64, "
                         "float32 or integers); - reads one input from the standard input.\n") +
             kExitCodes);
  app.set_version_flag("--version", std::string("eot ") + eot::kVersion + " (kernels: " +
                                        eot::instruction_set() + "; build: " + eot::kBuild + ")");
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
    std::cerr << "eot: " << explain(app, e, argc, argv) << "\n";
    return kBadInput;
  }
  install_interrupt_handlers();
  int code = kInternal;
  try {
    code = run_command(app, run);
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

}  // namespace
}  // namespace eot::cli

int main(int argc, char** argv) {
  eot::cli::start_ranks(argc, argv);
  const int code = eot::cli::run_main(argc, argv);
  eot::cli::end_ranks();
  return code;
}
