// The eot command line, run as a user would: exit codes, messages, outputs, atomic writes.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "helpers.hpp"

using namespace test;

namespace {

struct Run {
  int exit;
  std::string out, err;
};

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A scratch folder; runs the CLI inside it, stdout and stderr captured.
struct Sandbox {
  std::filesystem::path dir;
  Sandbox() {
    static int counter = 0;
    dir = std::filesystem::temp_directory_path() /
          ("eot-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir);
  }
  ~Sandbox() { std::filesystem::remove_all(dir); }
  std::string file(const std::string& name) const { return (dir / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
    return file(name);
  }
  // Runs eot with `args` in the folder, after the shell commands `before` (e.g. "umask 077;").
  Run run(const std::string& args, const std::string& before = "") const {
    const std::string command = "cd '" + dir.string() + "' && " + before + " '" + EOT_CLI + "' " +
                                args + " > stdout.txt 2> stderr.txt";
    const int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir / "stdout.txt"),
            slurp(dir / "stderr.txt")};
  }
};

const std::string kSmall = data_path("pot/balanced_small/");

// Waits (up to 20 s) until process `pid` runs eot and catches `signal` (its SigCgt mask in
// /proc). Until it has exec'd, the child is a copy of this test program, whose own handlers
// (doctest catches SIGINT and SIGTERM) would read as eot's.
bool wait_until_handled(pid_t pid, int signal) {
  const std::filesystem::path exe = "/proc/" + std::to_string(pid) + "/exe";
  for (int k = 0; k < 2000; ++k) {
    std::error_code error;
    if (std::filesystem::equivalent(std::filesystem::read_symlink(exe, error), EOT_CLI, error)) {
      std::ifstream status("/proc/" + std::to_string(pid) + "/status");
      for (std::string key; status >> key;) {
        std::string value;
        status >> value;
        if (key == "SigCgt:" && (std::stoull(value, nullptr, 16) >> (signal - 1) & 1)) return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

eot::Problem<double> small_problem() {
  eot::Problem<double> p = dense_problem(eot::io::read_matrix(kSmall + "cost.csv"), 0.05);
  p.a = eot::io::read_vector(kSmall + "a.csv");
  p.b = eot::io::read_vector(kSmall + "b.csv");
  return p;
}

const std::string kSmallArgs = "solve --cost " + kSmall + "cost.csv --a " + kSmall + "a.csv --b " +
                               kSmall + "b.csv --epsilon 0.05";

}  // namespace

TEST_CASE("cli: version and help document the exit codes") {
  Sandbox box;
  const Run version = box.run("--version");
  CHECK(version.exit == 0);
  CHECK(contains(version.out, std::string("eot ") + eot::kVersion));
  CHECK(contains(version.out, std::string("build: ") + eot::kBuild));
  const Run help = box.run("solve --help");
  CHECK(help.exit == 0);
  CHECK(contains(help.out, "Exit codes: 0 converged; 2 bad input"));
  CHECK(contains(help.out, "--rho-b"));
}

TEST_CASE("cli: help is grouped, epsilon first, without internal notation") {
  Sandbox box;
  for (const std::string command :
       {"solve", "sweep", "exact", "divergence", "barycenter", "attention"}) {
    const Run help = box.run(command + " --help");
    CHECK(help.exit == 0);
    CHECK_MESSAGE(!contains(help.out, "{false}"), command);
    CHECK_MESSAGE(!contains(help.out, "ENUM"), command);
    CHECK_MESSAGE(!contains(help.out, "->"), command);
  }
  const Run solve = box.run("solve --help");
  const auto at = [&](const std::string& text) { return solve.out.find(text); };
  CHECK(at("Problem:") < at("--epsilon,--reg"));
  CHECK(at("--epsilon,--reg") < at("--cost"));
  CHECK(at("--rho-b") < at("Solver:"));
  CHECK(at("Solver:") < at("--tolerance"));
  CHECK(at("--newton auto|on|off (default auto)") < at("Output:"));
  CHECK(at("Output:") < at("--plan"));
  CHECK(at("--plan") != std::string::npos);
}

TEST_CASE("cli: a mistyped command or option is refused with the name it most likely meant") {
  Sandbox box;
  const Run command = box.run("solv --epsilon 1");
  CHECK(command.exit == 2);
  CHECK(contains(command.err, "eot: unknown command 'solv'; did you mean 'solve'?"));
  const Run unknown = box.run("frobnicate");
  CHECK(unknown.exit == 2);
  CHECK(contains(unknown.err, "eot: unknown command 'frobnicate' (see eot --help)"));
  const Run option = box.run("solve --cots c.csv --epsilon 1");
  CHECK(option.exit == 2);
  CHECK(contains(option.err,
                 "eot: unknown option --cots; did you mean --cost? (see eot solve --help)"));
  const Run with_value =
      box.run("barycenter --epsilon 1 --measures m.csv --cost c.csv --out b.csv --lamdas=l.csv");
  CHECK(with_value.exit == 2);
  CHECK(contains(with_value.err, "unknown option --lamdas; did you mean --lambdas?"));
  const Run far = box.run("solve --epsilon 1 --zzz");
  CHECK(far.exit == 2);
  CHECK(contains(far.err, "eot: unknown option --zzz (see eot solve --help)"));
}

TEST_CASE("cli: --progress writes a log line per update where stderr is not a terminal") {
  Sandbox box;
  const std::string solve = "solve --cost " + kSmall + "cost.csv --epsilon 0.01 --check-every 1";
  const Run quiet = box.run(solve);  // stderr is a file here: no progress by default
  CHECK(quiet.exit == 0);
  CHECK(quiet.err.empty());
  const Run logged = box.run(solve + " --progress");
  CHECK(logged.exit == 0);
  CHECK(contains(logged.err, "eot: kernel domain"));
  CHECK(contains(logged.err, "eot: stage 1/1, epsilon 0.01, iteration 1, marginal error "));
  CHECK(contains(logged.err, "(target 1.0e-09), "));
  CHECK(!contains(logged.err, "\r"));
  CHECK(logged.err.back() == '\n');
  const Run sweep = box.run("sweep --cost " + kSmall + "cost.csv --epsilons 0.1,0.01 --progress");
  CHECK(sweep.exit == 0);
  CHECK(contains(sweep.err, "eot sweep: epsilon 2 of 2: stage 1/1, epsilon 0.01, iteration "));
  CHECK(contains(sweep.err, "eot sweep: the exact cost (network simplex, 7 x 5"));
  CHECK(box.run(solve + " --progress --quiet").exit == 2);
}

TEST_CASE("cli: --progress announces the reading of a file of 64 MB or more") {
  Sandbox box;
  {  // zeros, as a sparse file: 2900 x 2900 doubles, 67 MB
    std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2900, 2900), }";
    header.append(63 - (10 + header.size()) % 64, ' ');
    header += '\n';
    std::ofstream out(box.dir / "zeros.npy", std::ios::binary);
    out << "\x93NUMPY" << char(1) << char(0) << char(header.size() & 0xff)
        << char(header.size() >> 8) << header;
  }
  std::filesystem::resize_file(box.dir / "zeros.npy",
                               std::filesystem::file_size(box.dir / "zeros.npy") + 8 * 2900 * 2900);
  const Run r = box.run("solve --cost zeros.npy --epsilon 1 --max-iterations 1 --progress");
  CHECK(r.exit == 0);
  CHECK(contains(r.err, "eot: reading zeros.npy, 67.3 MB\n"));
  CHECK(!contains(box.run(kSmallArgs + " --progress").err, "eot: reading"));
}

TEST_CASE("cli: '-' reads an input from the standard input, text or .npy, a file or a pipe") {
  Sandbox box;
  const Run file = box.run(kSmallArgs + " --json");
  REQUIRE(file.exit == 0);
  const std::string solve =
      "solve --cost - --a " + kSmall + "a.csv --b " + kSmall + "b.csv --epsilon 0.05 --json";
  const Run text = box.run(solve + " < " + kSmall + "cost.csv");
  CHECK(text.exit == 0);
  eot::io::write_matrix(box.file("cost.npy"), eot::io::read_matrix(kSmall + "cost.csv"));
  const Run npy = box.run(solve, "cat cost.npy |");
  CHECK(npy.exit == 0);
  const auto values = [](const Run& r) {
    nlohmann::json j = nlohmann::json::parse(r.out);
    j.erase("solve_time_seconds");
    return j;
  };
  CHECK(values(text) == values(file));
  CHECK(values(npy) == values(file));
  const Run bad = box.run("solve --cost - --epsilon 1", "printf '1,abc\\n' |");
  CHECK(bad.exit == 2);
  CHECK(contains(bad.err, "eot: standard input: line 1, column 2: expected a number, got 'abc'"));
  const Run twice = box.run("solve --x - --y - --epsilon 1 < /dev/null");
  CHECK(twice.exit == 2);
  CHECK(contains(twice.err, "the standard input can be read once"));
}

TEST_CASE(
    "cli: '-' writes one output to the standard output, the report then to the standard error") {
  Sandbox box;
  const Run file = box.run(kSmallArgs + " --potentials potentials.csv");
  REQUIRE(file.exit == 0);
  const Run out = box.run(kSmallArgs + " --potentials -");
  CHECK(out.exit == 0);
  CHECK(out.out == slurp(box.dir / "potentials.csv"));
  CHECK(contains(out.err, "eot: entropic optimal transport, Sinkhorn"));
  CHECK(contains(out.err, "status          converged"));
  const Run json = box.run(kSmallArgs + " --potentials - --json");
  CHECK(json.exit == 2);
  CHECK(contains(json.err, "--json and an output - both write the standard output"));
  const Run two = box.run(kSmallArgs + " --potentials - --marginals -");
  CHECK(two.exit == 2);
  CHECK(contains(two.err, "--potentials and --marginals both write the standard output (-)"));
  const Run sweep =
      box.run("sweep --cost " + kSmall + "cost.csv --epsilon-range 0.1:1:2 --table -");
  CHECK(sweep.exit == 2);
  CHECK(contains(sweep.err, "--table: -: this output cannot go to the standard output"));
  box.run(kSmallArgs + " --plan - 2> err.txt > /dev/full; echo $? > code.txt; true");
  CHECK(slurp(box.dir / "code.txt") == "4\n");
  CHECK(contains(slurp(box.dir / "err.txt"),
                 "eot: standard output: cannot write: No space left on device"));
}

TEST_CASE("cli: --json is one object that agrees with the library") {
  Sandbox box;
  const Run r = box.run(kSmallArgs + " --json");
  REQUIRE(r.exit == 0);
  const nlohmann::json j = nlohmann::json::parse(r.out);  // throws unless stdout is exactly JSON
  const eot::Result lib = eot::solve(small_problem());
  CHECK(j["status"] == "converged");
  CHECK(j["iterations"] == lib.iterations);
  CHECK(j["n"] == 7);
  CHECK(j["m"] == 5);
  CHECK(j["epsilon"] == 0.05);
  CHECK(j["rho_a"] == "inf");
  CHECK(j["rho_b"] == "inf");
  for (const auto& field :
       {std::pair{"transport_cost", lib.transport_cost}, std::pair{"primal", lib.primal},
        std::pair{"dual", lib.dual}, std::pair{"gap", lib.gap}, std::pair{"entropy", lib.entropy},
        std::pair{"marginal_error", lib.marginal_error}}) {
    const char* key = field.first;  // clang 14 can't CAPTURE a structured binding
    CAPTURE(key);
    CHECK(j[key].get<double>() == field.second);
  }
  CHECK(j["solve_time_seconds"].get<double>() >= 0);
  CHECK(r.err.empty());
  // The names and their order are a contract: scripts read them.
  const std::vector<std::string> names = {"status",
                                          "iterations",
                                          "epsilon",
                                          "transport_cost",
                                          "primal",
                                          "dual",
                                          "gap",
                                          "entropy",
                                          "mass",
                                          "marginal_error",
                                          "solve_time_seconds",
                                          "message",
                                          "n",
                                          "m",
                                          "rho_a",
                                          "rho_b",
                                          "regime",
                                          "geometry",
                                          "precision",
                                          "tolerance",
                                          "stages",
                                          "newton_steps",
                                          "omega",
                                          "domain",
                                          "absorptions",
                                          "kernel_bytes",
                                          "ranks",
                                          "history",
                                          "version"};
  std::vector<std::string> keys;
  const nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(r.out);
  for (const auto& item : ordered.items()) keys.push_back(item.key());
  CHECK(keys == names);
  CHECK(j["domain"] == "kernel");
  CHECK(j["history"].back()["marginal_error"] == lib.marginal_error);
}

TEST_CASE("the table of result fields: each name once, each found by name, the report's lines") {
  const eot::Result r = eot::solve(small_problem());
  std::set<std::string> names;
  for (const eot::ResultField& field : eot::result_fields()) {
    CAPTURE(field.name);
    CHECK(names.insert(field.name).second);
    CHECK(&eot::result_field(field.name) == &field);
    if (field.report) CHECK(contains(r.full_report(), std::string("  ") + field.label));
  }
  CHECK(std::get<long long>(eot::result_field("iterations").get(r)) == r.iterations);
  CHECK(std::get<std::string>(eot::result_field("domain").get(r)) == "kernel");
  CHECK(contains(message_of<eot::InvalidArgument>([] { eot::result_field("cost"); }),
                 "no result field is named 'cost'"));
}

TEST_CASE("cli: outputs in CSV and .npy round-trip and match the library") {
  Sandbox box;
  const eot::Problem<double> p = small_problem();
  const eot::Result lib = eot::solve(p);
  const MatrixD plan = p.plan(lib.f, lib.g);
  for (const char* ext : {".csv", ".npy"}) {
    CAPTURE(ext);
    const std::string e = ext;
    const Run r =
        box.run(kSmallArgs + " --plan plan" + e + " --potentials fg" + e + " --marginals rc" + e);
    REQUIRE(r.exit == 0);
    CHECK(eot::io::read_matrix(box.file("plan" + e)) == plan);
    VectorXd fg(12), rc(12);
    fg << lib.f, lib.g;
    rc << lib.row_marginal, lib.col_marginal;
    CHECK(eot::io::read_vector(box.file("fg" + e)) == fg);
    CHECK(eot::io::read_vector(box.file("rc" + e)) == rc);
    // And the written files are valid inputs again.
    const Run again = box.run("solve --cost plan" + e + " --epsilon 1 --quiet");
    CHECK(again.exit == 0);
  }
}

TEST_CASE("cli: point clouds, regimes and precision") {
  Sandbox box;
  box.write("x.csv", "0 0\n1 0\n0 1\n");
  box.write("y.csv", "0 0.1\n1 0.1\n0 1.1\n0.5 0.5\n");
  const Run cloud = box.run("solve --x x.csv --y y.csv --epsilon 0.01 --json");
  REQUIRE(cloud.exit == 0);
  const nlohmann::json j = nlohmann::json::parse(cloud.out);
  CHECK(j["geometry"] == "point cloud 3 x 4, d = 2, sqeuclidean");
  CHECK(j["transport_cost"].get<double>() == doctest::Approx(0.1325).epsilon(1e-9));
  CHECK(j["domain"] == "kernel");
  const Run log = box.run("solve --x x.csv --y y.csv --epsilon 0.01 --domain log --json");
  REQUIRE(log.exit == 0);
  CHECK(nlohmann::json::parse(log.out)["domain"] == "log");
  CHECK(nlohmann::json::parse(log.out)["absorptions"] == 0);
  CHECK(nlohmann::json::parse(log.out)["transport_cost"].get<double>() ==
        doctest::Approx(0.1325).epsilon(1e-9));
  CHECK(box.run("solve --x x.csv --y y.csv --epsilon 0.01 --domain exp").exit == 2);

  const Run one_sided =
      box.run("solve --x x.csv --y y.csv --metric negdot --epsilon 1 --rho-b 0 --json");
  REQUIRE(one_sided.exit == 0);
  CHECK(nlohmann::json::parse(one_sided.out)["iterations"] == 1);
  CHECK(nlohmann::json::parse(one_sided.out)["regime"] == "one-sided");

  const Run unbalanced =
      box.run("solve --x x.csv --y y.csv --epsilon 0.01 --rho-a 0.5 --rho-b 0.5 --json");
  CHECK(unbalanced.exit == 0);
  CHECK(nlohmann::json::parse(unbalanced.out)["rho_a"] == 0.5);

  const Run single = box.run("solve --x x.csv --y y.csv --epsilon 0.01 --precision float --json");
  REQUIRE(single.exit == 0);
  CHECK(nlohmann::json::parse(single.out)["precision"] == "float");
  CHECK(nlohmann::json::parse(single.out)["transport_cost"].get<double>() ==
        doctest::Approx(0.1325).epsilon(1e-5));
}

TEST_CASE("cli: not converging is exit 3, with outputs still written and said") {
  Sandbox box;
  const Run r = box.run(kSmallArgs + " --max-iterations 3 --json --plan plan.csv");
  CHECK(r.exit == 3);
  CHECK(nlohmann::json::parse(r.out)["status"] == "max_iterations");
  CHECK(std::filesystem::exists(box.file("plan.csv")));
  const Run report = box.run(kSmallArgs + " --max-iterations 3");
  CHECK(report.exit == 3);
  CHECK(contains(report.out, "status          max_iterations"));
}

TEST_CASE("cli: bad input is exit 2 with one line naming the file, the place and the rule") {
  Sandbox box;
  const std::string cost = box.write("cost.csv", "0 1 2\n1 0 1\n2 1 0\n3 2 1\n4 3 2\n");
  const std::string d = box.dir.string() + "/";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"solve --cost cost.csv --a " + box.write("a.csv", "0.2 0.1\n0.2 0.1\n0.2 abc\n") +
           " --epsilon 1",
       d + "a.csv: line 3, column 2: expected a number, got 'abc'"},
      {"solve --cost cost.csv --a " + box.write("a4.csv", "0.25\n0.25\n0.25\n0.25\n") +
           " --epsilon 1",
       d + "a4.csv: a has 4 entries but the cost has 5 rows"},
      {"solve --cost cost.csv --b " + box.write("b.csv", "0.6 0.5 -0.1\n") + " --epsilon 1",
       d + "b.csv: b(2) is -0.1: weights must be finite and >= 0"},
      {"solve --cost cost.csv --b " + box.write("b2.csv", "1 0.5 0.5\n") + " --epsilon 1",
       d + "b2.csv: balanced problem needs equal masses: sum(b) - sum(a) = 1 (sum(a) = 1, "
           "sum(b) = 2), more than 1e-09 x the mass; normalize them"},
      {"solve --cost " + box.write("walled.csv", "inf inf\n1 0\n") + " --epsilon 1",
       d + "walled.csv: row 0 has weight a(0) = 0.5 but no admissible column"},
      {"solve --cost " + box.write("nan.csv", "1 2\nnan 3\n") + " --epsilon 1",
       d + "nan.csv: cost(1, 0) is nan: costs must be finite, or +inf for a forbidden pair"},
      {"solve --cost " + box.write("ragged.csv", "1 2\n3\n") + " --epsilon 1",
       d + "ragged.csv: line 2 has 1 values but line 1 has 2"},
      {"solve --cost " + box.write("empty.csv", "") + " --epsilon 1",
       d + "empty.csv: no numbers (the file is empty or only has comments)"},
      {"solve --cost " + box.write("fake.npy", "0 1\n1 0\n") + " --epsilon 1",
       d + "fake.npy: not a .npy file"},
      {"solve --cost " + data_path("npy/complex.npy") + " --epsilon 1",
       "dtype '<c16' is not supported"},
      {"solve --cost cost.csv --epsilon 0", "epsilon is 0: it must be positive and finite"},
      {"solve --cost cost.csv --epsilon 1 --rho-a -1", "rho_a is -1: it must be in [0, inf]"},
      {"solve --cost missing.csv --epsilon 1",
       "missing.csv: cannot open: No such file or directory"},
      {"solve --x " + box.write("x.csv", "0 0\n1 1\n") + " --y " + box.write("y.csv", "0\n1\n") +
           " --epsilon 1",
       d + "x.csv has 2 columns but " + d + "y.csv has 1 (points need the same dimension)"},
      {"solve --x x.csv --y " + box.write("yinf.csv", "0 0\n1 inf\n") + " --epsilon 1",
       d + "yinf.csv: y(1, 1) is inf: coordinates must be finite"},
      {"solve --x x.csv --y x.csv --metric cityblock --epsilon 1",
       "--metric: cityblock not in {sqeuclidean,euclidean,negdot,cosine}"},
      {"solve --cost " + box.write("big.csv", "1e39 1\n1 1\n") + " --epsilon 1 --precision float",
       d + "big.csv: entry (0, 0) = 1e+39 overflows float; use --precision double"},
      {"solve --cost cost.csv", "--epsilon is required"},
      {"solve --cost cost.csv --x x.csv --y x.csv --epsilon 1", "--cost excludes --x"},
      {"solve --epsilon 1", "--cost or --x/--y is required"},
  };
  for (const auto& c : cases) {
    const std::string &args = c.first, &message = c.second;  // clang 14 can't CAPTURE a binding
    CAPTURE(args);
    const Run r = box.run(args + " --plan plan.csv");
    CHECK(r.exit == 2);
    CHECK(contains(r.err, message));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);  // one line
    CHECK(r.out.empty());
    CHECK(!std::filesystem::exists(box.file("plan.csv")));  // nothing written
  }
}

TEST_CASE("cli: a failing run never damages an existing output file") {
  Sandbox box;
  box.write("plan.csv", "keep me\n");
  const Run bad = box.run("solve --cost missing.csv --epsilon 1 --plan plan.csv");
  CHECK(bad.exit == 2);
  CHECK(slurp(box.file("plan.csv")) == "keep me\n");
  const Run unwritable = box.run(kSmallArgs + " --plan no/such/folder/plan.csv");
  CHECK(unwritable.exit == 2);
  CHECK(contains(unwritable.err,
                 "eot: --plan: no/such/folder/plan.csv: the folder no/such/folder does not exist"));
  // Only the files this test made are in the folder: no temporaries left behind.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(box.dir)) {
    const std::string name = entry.path().filename().string();
    CHECK((name == "plan.csv" || name == "stdout.txt" || name == "stderr.txt"));
    ++files;
  }
  CHECK(files == 3);
}

TEST_CASE("cli: eot attention writes what the library computes") {
  Sandbox box;
  const std::string ex = data_path("examples/");
  const MatrixD q = eot::io::read_matrix(ex + "q.csv"), k = eot::io::read_matrix(ex + "k.csv");
  const std::string qkv = "attention --q " + ex + "q.csv --k " + ex + "k.csv --v " + ex + "k.csv";
  namespace at = eot::attention;

  const Run plain = box.run(qkv + " --out o.npy --weights w.csv --causal");
  REQUIRE(plain.exit == 0);
  at::Mask<double> causal;
  causal.causal = true;
  MatrixD w;
  const MatrixD o = at::forward(q, k, k, 0.0, causal, 0, &w);
  CHECK(eot::io::read_matrix(box.file("o.npy")) == o);
  CHECK(eot::io::read_matrix(box.file("w.csv")) == w);

  const Run grads = box.run(qkv + " --out o.csv --regularizer entmax15 --grad-output " + ex +
                            "q.csv --grad-q gq.csv --grad-k gk.csv --grad-v gv.csv");
  REQUIRE(grads.exit == 0);
  const at::Gradients<double> g = at::backward(q, k, k, q, 0.0, {}, at::Regularizer::Entmax15);
  CHECK(eot::io::read_matrix(box.file("gq.csv")) == g.dq);
  CHECK(eot::io::read_matrix(box.file("gk.csv")) == g.dk);
  CHECK(eot::io::read_matrix(box.file("gv.csv")) == g.dv);

  const Run two = box.run(qkv + " --out o.csv --two-sided --iterations 1 --json");
  REQUIRE(two.exit == 0);
  const nlohmann::json j = nlohmann::json::parse(two.out);
  CHECK(j["normalizations"] == 1);
  CHECK(j["epsilon"] == 2.0);  // sqrt(d)
  CHECK(max_abs_diff(eot::io::read_matrix(box.file("o.csv")), at::forward(q, k, k)) <
        1e-14);  // SDPA
}

TEST_CASE("cli: eot attention refuses bad input with the file and the dimension") {
  Sandbox box;
  const std::string ex = data_path("examples/");
  const std::string q = ex + "q.csv", k = ex + "k.csv";
  box.write("nan.csv", "1 2 3 nan\n");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--q " + q + " --k " + ex + "x.csv --v " + k,
       q + " has d = 4 columns but " + ex + "x.csv has 2"},
      {"--q " + q + " --k " + k + " --v " + q,
       q + " has 3 rows but " + k + " has 5 (one value per key)"},
      {"--q nan.csv --k " + k + " --v " + k, "nan.csv: q(0, 3) is nan: entries must be finite"},
      {"--q " + q + " --k " + k + " --v " + k + " --bias " + k,
       k + " is 5 x 4 but the scores are n x m = 3 x 5"},
      {"--q " + q + " --k " + k + " --v " + k + " --epsilon -1",
       "epsilon is -1: it must be positive and finite"},
      {"--q " + q + " --k " + k + " --v " + k + " --regularizer relu",
       "--regularizer: relu not in"},
      {"--q " + q + " --k " + k + " --v " + k + " --grad-output " + k,
       k + " is 5 x 4 but the output is n x dv = 3 x 4"},
      {"--q " + q + " --k " + k + " --v " + k + " --grad-q g.csv",
       "--grad-q requires --grad-output"},
      {"--q " + q + " --k " + k + " --v " + k + " --two-sided --regularizer sparsemax",
       "--two-sided needs --regularizer softmax"},
  };
  for (const auto& c : cases) {
    const std::string &args = c.first, &message = c.second;  // clang 14 can't CAPTURE a binding
    CAPTURE(args);
    const Run r = box.run("attention " + args + " --out out.csv");
    CHECK(r.exit == 2);
    CHECK(contains(r.err, message));
    CHECK(!std::filesystem::exists(box.file("out.csv")));
  }
}

TEST_CASE("cli: eot demo sdpa reproduces every claim, for more than one seed") {
  Sandbox box;
  for (const char* seed : {"2025", "7"}) {
    CAPTURE(seed);
    const Run r = box.run(std::string("demo sdpa --seed ") + seed);
    CHECK(r.exit == 0);
    CHECK(contains(r.out, "Every claim holds."));
    CHECK(!contains(r.out, "FAILS"));
  }
}

namespace {

// The CSV table of eot sweep: the header's names, then one map per row.
std::vector<std::map<std::string, std::string>> read_table(const std::string& file,
                                                           std::vector<std::string>& header) {
  std::ifstream in(file);
  std::vector<std::map<std::string, std::string>> rows;
  std::string line;
  auto split = [](const std::string& text) {
    std::vector<std::string> out;
    std::stringstream items(text);
    for (std::string item; std::getline(items, item, ',');) out.push_back(item);
    return out;
  };
  std::getline(in, line);
  header = split(line);
  while (std::getline(in, line)) {
    const std::vector<std::string> cells = split(line);
    std::map<std::string, std::string> row;
    for (std::size_t k = 0; k < header.size() && k < cells.size(); ++k) row[header[k]] = cells[k];
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TEST_CASE(
    "cli: eot sweep writes one row per epsilon, warm starts change nothing, and the cost tends to "
    "the exact one") {
  Sandbox box;
  const std::string ex = data_path("examples/");
  const Run r = box.run("sweep --x " + ex + "x.csv --y " + ex +
                        "y.csv --epsilon-range 0.001:1:7 --table t.csv");
  REQUIRE(r.exit == 0);
  std::vector<std::string> header;
  const auto rows = read_table(box.file("t.csv"), header);
  for (const char* column : {"epsilon", "status", "iterations", "transport_cost", "primal", "dual",
                             "entropy", "marginal_error", "solve_time_seconds", "exact_cost"}) {
    CAPTURE(column);
    CHECK(std::find(header.begin(), header.end(), column) != header.end());
  }
  REQUIRE(rows.size() == 7);
  CHECK(std::stod(rows.front().at("epsilon")) == 0.001);
  CHECK(std::stod(rows.back().at("epsilon")) == 1.0);
  eot::Problem<double> p(
      std::make_shared<eot::PointCloud<double>>(eot::io::read_matrix(ex + "x.csv"),
                                                eot::io::read_matrix(ex + "y.csv")),
      1.0);
  double previous = -eot::kInf;
  const double exact = std::stod(rows.front().at("exact_cost"));
  for (const auto& row : rows) {
    const double epsilon = std::stod(row.at("epsilon")), cost = std::stod(row.at("transport_cost"));
    CAPTURE(epsilon);
    CHECK(row.at("status") == "converged");
    CHECK(cost >= previous - 1e-9);  // non-decreasing in epsilon
    previous = cost;
    CHECK(cost >= exact - 1e-9);
    CHECK(cost <= exact + epsilon * std::log(6.0) + 1e-9);
    p.epsilon = epsilon;  // a cold solve gives the same answer within the tolerance
    CHECK(std::abs(eot::solve(p).transport_cost - cost) < 1e-7);
  }
  CHECK(std::stod(rows.front().at("transport_cost")) - exact < 1e-5);

  const Run j =
      box.run("sweep --x " + ex + "x.csv --y " + ex + "y.csv --epsilons 0.5,0.05 --json --rho-b 1");
  REQUIRE(j.exit == 0);
  const nlohmann::json parsed = nlohmann::json::parse(j.out);
  CHECK(parsed["rows"].size() == 2);
  CHECK(parsed["rows"][0]["epsilon"] == 0.05);
  CHECK(parsed["exact_cost"].is_null());  // not balanced

  for (const auto& c : std::vector<std::pair<std::string, std::string>>{
           {"--epsilon-range 1:0.1:5", "--epsilon-range: expected MIN:MAX:COUNT"},
           {"--epsilon-range 0.1:1", "--epsilon-range: expected MIN:MAX:COUNT"},
           {"--epsilons 0.1,abc", "--epsilons: 'abc' is not a positive finite number"},
           {"--epsilons 0.1,-1", "--epsilons: '-1' is not a positive finite number"},
           {"", "--epsilon-range or --epsilons is required"},
           {"--epsilons 1 --plot p.jpg", "--plot: 'p.jpg' must end in .png or .svg"},
           {"--epsilons 1 --plot nodir/p.png",
            "--plot: 'nodir/p.png': the folder nodir does not exist"}}) {
    const std::string &grid = c.first, &message = c.second;  // clang 14 can't CAPTURE a binding
    CAPTURE(grid);
    const Run bad =
        box.run("sweep --x " + ex + "x.csv --y " + ex + "y.csv " + grid + " --table bad.csv");
    CHECK(bad.exit == 2);
    CHECK(contains(bad.err, message));
    CHECK(!std::filesystem::exists(box.file("bad.csv")));
  }
}

TEST_CASE("cli: eot bench-attention runs and reports every shape (the timings are not checked)") {
  const Sandbox box;
  const Run r = box.run(
      "bench-attention --lengths 40 70 --heads 3 --d 8 --threads 2 --repeats 1 "
      "--json");
  REQUIRE(r.exit == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["precision"] == "float");
  REQUIRE(j["results"].size() == 2);
  CHECK(j["results"][1]["length"] == 70);
  CHECK(j["results"][1]["heads"] == 3);
  CHECK(j["results"][1]["d"] == 8);
  CHECK(j["results"][1]["backward_ms"].is_number());
  const Run table = box.run("bench-attention --lengths 40 --heads 2 --d 4 --repeats 1");
  CHECK(table.exit == 0);
  CHECK(contains(table.out, "forward ms"));
  CHECK(box.run("bench-attention --lengths 0").exit == 2);
}

TEST_CASE("cli: the attention sweep goes from hard to uniform attention and marks sqrt(d)") {
  Sandbox box;
  const std::string ex = data_path("examples/");
  const Run r = box.run("sweep --q " + ex + "q.csv --k " + ex + "k.csv --v " + ex +
                        "k.csv --epsilon-range 0.001:1000:7 --table t.csv");
  REQUIRE(r.exit == 0);
  std::vector<std::string> header;
  const auto rows = read_table(box.file("t.csv"), header);
  REQUIRE(rows.size() == 8);  // 7 + sqrt(d) = 2
  int marked = 0;
  double entropy = -1, hard = -1, uniform = 2;
  for (const auto& row : rows) {
    if (std::stod(row.at("epsilon_over_sqrt_d")) == 1) {
      ++marked;
      CHECK(std::stod(row.at("output_change")) == 0);  // the sqrt(d) row is the reference
    }
    CHECK(std::stod(row.at("mean_entropy")) > entropy);
    CHECK(std::stod(row.at("distance_to_hard")) >= hard);
    CHECK(std::stod(row.at("distance_to_uniform")) < uniform);
    entropy = std::stod(row.at("mean_entropy"));
    hard = std::stod(row.at("distance_to_hard"));
    uniform = std::stod(row.at("distance_to_uniform"));
  }
  CHECK(marked == 1);
  CHECK(std::stod(rows.front().at("distance_to_hard")) < 1e-12);
  CHECK(std::stod(rows.back().at("distance_to_uniform")) < 1e-3);
  const Run bad = box.run("sweep --q " + ex + "q.csv --k " + ex + "x.csv --epsilons 1");
  CHECK(bad.exit == 2);
  CHECK(contains(bad.err, "q.csv has d = 4 columns but " + ex + "x.csv has 2"));
}

TEST_CASE("cli: SIGINT and SIGTERM stop a long solve at once, with no output written") {
  Sandbox box;
  eot::io::write_matrix(box.file("x.npy"), uniform_matrix(20000, 2, 1));
  eot::io::write_matrix(box.file("y.npy"), uniform_matrix(20000, 2, 2));
  const std::string kept = box.write("f.csv", "an existing file\n");
  for (const auto& pair : {std::pair{SIGINT, 130}, {SIGTERM, 143}}) {
    const auto signal = pair.first;
    const auto code = pair.second;
    CAPTURE(signal);
    const std::string out = box.file("stdout.txt"), err = box.file("stderr.txt");
    const std::string x = box.file("x.npy"), y = box.file("y.npy"), plan = box.file("plan.npy");
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // the CLI, on a problem that would run for minutes
      // Only async-signal-safe calls between fork and exec.
      const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out_fd < 0 || err_fd < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(99);
      execl(EOT_CLI, EOT_CLI, "solve", "--x", x.c_str(), "--y", y.c_str(), "--epsilon", "1e-4",
            "--potentials", kept.c_str(), "--plan", plan.c_str(), static_cast<char*>(nullptr));
      _exit(98);
    }
    REQUIRE(wait_until_handled(child, signal));
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // into the solve
    const auto sent = std::chrono::steady_clock::now();
    kill(child, signal);
    int status = 0;
    waitpid(child, &status, 0);
    const double latency =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == code);
    CHECK(latency < 5);  // one block of rows, not the rest of the solve
    CHECK(contains(slurp(box.dir / "stderr.txt"), std::string("interrupted by ") +
                                                      (signal == SIGINT ? "SIGINT" : "SIGTERM") +
                                                      "; no output was written"));
    CHECK(slurp(box.dir / "stdout.txt").empty());
    CHECK(slurp(kept) == "an existing file\n");
    CHECK(!std::filesystem::exists(plan));
    CHECK(std::distance(std::filesystem::directory_iterator(box.dir),
                        std::filesystem::directory_iterator()) == 5);  // x, y, f, stdout, stderr
  }
}

TEST_CASE("cli: a plan that cannot fit is refused before the solve, pointing to --potentials") {
  Sandbox box;
  eot::io::write_matrix(box.file("x.npy"), uniform_matrix(400000, 2, 1));
  const Run r = box.run("solve --x x.npy --y x.npy --epsilon 0.01 --plan plan.npy");
  CHECK(r.exit == 2);
  CHECK(contains(r.err, "eot: --plan (400000 x 400000) needs 1.28 TB but "));
  CHECK(contains(r.err, "write --potentials instead"));
  CHECK(!std::filesystem::exists(box.file("plan.npy")));
}

TEST_CASE("cli: --memory-limit bounds the kernel, the plan and the files read") {
  Sandbox box;
  eot::io::write_matrix(box.file("c.npy"), uniform_matrix(300, 200, 1));
  eot::io::write_matrix(box.file("x.npy"), uniform_matrix(300, 2, 2));
  eot::io::write_matrix(box.file("y.npy"), uniform_matrix(200, 2, 3));
  const std::string clouds = "solve --x x.npy --y y.npy --epsilon 0.1 ";
  const Run kernel = box.run(clouds + "--json");  // K (480 kB) is under the default 256 MB
  CHECK(kernel.exit == 0);
  CHECK(contains(kernel.out, "\"domain\": \"kernel\""));
  CHECK(contains(kernel.out, "\"kernel_bytes\": 480000.0"));
  const Run log = box.run(clouds + "--json --memory-limit 400K");
  CHECK(log.exit == 0);
  CHECK(contains(log.out, "\"domain\": \"log\""));
  const Run plan = box.run(clouds + "--memory-limit 400K --plan p.csv");
  CHECK(plan.exit == 2);
  CHECK(contains(plan.err, "eot: --plan (300 x 200) needs 480 kB but "));
  CHECK(!std::filesystem::exists(box.file("p.csv")));
  const Run file = box.run("solve --cost c.npy --epsilon 0.1 --memory-limit 100K");
  CHECK(file.exit == 2);
  CHECK(contains(file.err, "c.npy: reading it takes about 1.44 MB but the memory limit is 102 kB"));
  const Run bad = box.run("solve --cost c.npy --epsilon 0.1 --memory-limit 12Q");
  CHECK(bad.exit == 2);
  CHECK(contains(bad.err, "--memory-limit is '12Q': expected a byte count"));
  for (const char* threads : {"-3", "100000"}) {
    const Run r = box.run(std::string("solve --cost c.npy --epsilon 0.1 --threads ") + threads);
    CHECK(r.exit == 2);
    CHECK(contains(r.err, "--threads"));
  }
}

TEST_CASE("cli: no file name reaches a shell (sweep --plot)") {
  Sandbox box;
  const std::string ex = data_path("examples/");
  // With or without matplotlib (the figure is drawn or refused), nothing else may run.
  const Run r = box.run("sweep --x " + ex + "x.csv --y " + ex + "y.csv --epsilons 0.5 --quiet " +
                        "--plot \"x';touch PWNED;echo '.png\"");
  CHECK(!std::filesystem::exists(box.file("PWNED")));
  if (r.exit == 0) CHECK(std::filesystem::file_size(box.file("x';touch PWNED;echo '.png")) > 0);
  for (const auto& entry : std::filesystem::directory_iterator(box.dir))
    CHECK(!contains(entry.path().filename().string(), "eot-partial"));  // no temporary left
}

TEST_CASE(
    "cli: outputs get the umask's mode or the replaced file's, follow links, take long names") {
  Sandbox box;
  const std::string solve = "solve --cost " + kSmall + "cost.csv --a " + kSmall + "a.csv --b " +
                            kSmall + "b.csv --epsilon 0.05 --quiet ";
  auto mode = [&](const std::string& name) {
    return std::filesystem::status(box.file(name)).permissions() & std::filesystem::perms::mask;
  };
  using std::filesystem::perms;
  CHECK(box.run(solve + "--potentials f.csv", "umask 077;").exit == 0);
  CHECK(mode("f.csv") == (perms::owner_read | perms::owner_write));
  std::filesystem::permissions(box.file("f.csv"),
                               perms::owner_read | perms::owner_write | perms::group_read);
  CHECK(box.run(solve + "--potentials f.csv").exit == 0);  // replaced: the mode stays
  CHECK(mode("f.csv") == (perms::owner_read | perms::owner_write | perms::group_read));
  std::filesystem::create_symlink(box.file("f.csv"), box.file("link.csv"));
  std::filesystem::remove(box.file("f.csv"));
  box.write("f.csv", "old\n");
  CHECK(box.run(solve + "--potentials link.csv").exit == 0);
  CHECK(std::filesystem::is_symlink(box.file("link.csv")));  // the link stays, its target is new
  CHECK(eot::io::read_vector(box.file("f.csv")).size() > 0);
  const std::string long_name = std::string(246, 'p') + ".csv";  // 250 characters
  CHECK(box.run(solve + "--potentials " + long_name).exit == 0);
  CHECK(std::filesystem::file_size(box.file(long_name)) > 0);
  for (const auto& entry : std::filesystem::directory_iterator(box.dir))
    CHECK(!contains(entry.path().filename().string(), "eot-partial"));
}

TEST_CASE("cli: every phase stops within a second of SIGINT or SIGTERM, with nothing written") {
  Sandbox box;
  eot::io::write_matrix(box.file("c.csv"), uniform_matrix(1500, 1500, 1));  // 50 MB of text
  eot::io::write_matrix(box.file("x.npy"), uniform_matrix(3000, 2, 2));
  eot::io::write_matrix(box.file("y.npy"), uniform_matrix(3000, 2, 3));
  eot::io::write_matrix(box.file("q.npy"), uniform_matrix(3000, 16, 4, -1, 1));
  const std::string kept = box.write("out.csv", "an existing file\n");
  struct Phase {
    std::string name, args;
  };
  for (const Phase& phase :
       {Phase{"reading a cost", "solve --cost c.csv --epsilon 0.1 --potentials out.csv --quiet"},
        Phase{"writing the plan", "solve --x x.npy --y y.npy --epsilon 1 --plan out.csv --quiet"},
        Phase{"the sweep's exact stage",
              "sweep --x x.npy --y y.npy --epsilons 1 --table out.csv --quiet"},
        Phase{"two-sided attention",
              "attention --q q.npy --k q.npy --v q.npy --two-sided --out out.csv"}}) {
    for (const auto& pair : {std::pair{SIGINT, 130}, {SIGTERM, 143}}) {
      CAPTURE(phase.name);
      CAPTURE(pair.first);
      const std::string command = "cd '" + box.dir.string() + "' && exec '" + EOT_CLI + "' " +
                                  phase.args + " > stdout.txt 2> stderr.txt";
      const pid_t child = fork();
      REQUIRE(child >= 0);
      if (child == 0) {
        execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
        _exit(98);
      }
      // Once eot handles the signal (a slow start, under a sanitizer, takes longer), 200 ms in.
      REQUIRE(wait_until_handled(child, pair.first));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const auto sent = std::chrono::steady_clock::now();
      kill(child, pair.first);
      int status = 0;
      waitpid(child, &status, 0);
      const double latency =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
      CAPTURE(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
      REQUIRE(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == pair.second);
      CHECK(latency < 1.5);  // half a second of grace, and a loaded machine
      CHECK(contains(slurp(box.dir / "stderr.txt"), "; no output was written"));
      CHECK(slurp(kept) == "an existing file\n");
      for (const auto& entry : std::filesystem::directory_iterator(box.dir))
        CHECK(!contains(entry.path().filename().string(), "eot-partial"));
    }
  }
}

TEST_CASE("cli: every output is checked before any work, and a failing stdout is exit 4") {
  Sandbox box;
  const std::string kept = box.write("ok.csv", "an existing file\n");
  for (const auto& c : std::vector<std::pair<std::string, std::string>>{
           {"--plan ok.csv --potentials nodir/p.csv",
            "eot: --potentials: nodir/p.csv: the folder nodir does not exist"},
           {"--potentials pot.bad",
            "eot: --potentials: pot.bad: unknown file type; expected a name ending in .csv"},
           {"--plan same.csv --potentials same.csv",
            "eot: --plan and --potentials name the same file: same.csv"},
           {"--plan " + kSmall + "cost.csv", "cost.csv: is also an input; write the output"}}) {
    const std::string &outputs = c.first, &message = c.second;
    CAPTURE(outputs);
    const Run r = box.run(kSmallArgs + " " + outputs);
    CHECK(r.exit == 2);
    CHECK(contains(r.err, message));
    CHECK(slurp(kept) == "an existing file\n");
    CHECK(!std::filesystem::exists(box.file("same.csv")));
  }
  box.run(kSmallArgs + " --json 2> err.txt > /dev/full; echo $? > code.txt; true");
  CHECK(slurp(box.dir / "code.txt") == "4\n");
  CHECK(contains(slurp(box.dir / "err.txt"), "eot: cannot write the standard output"));
}

TEST_CASE("cli: --newton and newton_steps, and one mass rule (the library's)") {
  Sandbox box;
  const std::string cost = data_path("newton/points50_eps1e-3/cost.csv");
  for (const auto& [mode, steps] : {std::pair{"auto", true}, {"on", true}, {"off", false}}) {
    CAPTURE(mode);
    const Run r = box.run("solve --cost " + cost + " --epsilon 1e-3 --tolerance 1e-8 --json " +
                          "--newton " + mode);
    const nlohmann::json j = nlohmann::json::parse(r.out);
    CHECK((j["newton_steps"].get<int>() > 0) == steps);
    CHECK(r.exit == (steps ? 0 : 3));  // Sinkhorn alone needs about 150 000 iterations here
  }
  const Run bad = box.run("solve --cost " + cost + " --epsilon 1e-3 --newton maybe");
  CHECK(bad.exit == 2);
  CHECK(contains(bad.err, "--newton"));
  // Sums 4.4e-16 apart: within rounding, whatever the tolerance (the library's rule).
  box.write("a.csv", "0.5\n0.5\n");
  box.write("b.csv", "0.5\n0.50000000000000044\n");
  box.write("c.csv", "0,1\n1,0\n");
  const Run close =
      box.run("solve --cost c.csv --a a.csv --b b.csv --epsilon 0.5 --tolerance 1e-16");
  CHECK(close.exit != 2);
  CHECK(!contains(close.err, "equal masses"));
}

TEST_CASE("cli: eot exact prints the optimal cost, writes plan and potentials, refuses bad input") {
  Sandbox box;
  const std::string ex = data_path("examples/");
  const Run r = box.run("exact --x " + ex + "x.csv --y " + ex + "y.csv --json --plan p.npy " +
                        "--potentials f.csv");
  REQUIRE(r.exit == 0);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  CHECK(j["status"] == "optimal");
  CHECK(j["n"] == 6);
  CHECK(j["m"] == 8);
  const MatrixD plan = eot::io::read_matrix(box.file("p.npy"));
  const VectorXd potentials = eot::io::read_vector(box.file("f.csv"));
  CHECK(plan.rows() == 6);
  CHECK(potentials.size() == 14);
  CHECK((plan.array() > 0).count() <= 6 + 8 - 1);
  // The same cost as the sweep's exact stage, and the dual's value from the potentials.
  const MatrixD x = eot::io::read_matrix(ex + "x.csv"), y = eot::io::read_matrix(ex + "y.csv");
  double cost = 0;
  for (Index i = 0; i < 6; ++i) {
    for (Index k = 0; k < 8; ++k) cost += plan(i, k) * (x.row(i) - y.row(k)).squaredNorm();
  }
  CHECK(j["cost"].get<double>() == doctest::Approx(cost).epsilon(1e-14));
  CHECK(
      j["dual"].get<double>() ==
      doctest::Approx(potentials.head(6).sum() / 6 + potentials.tail(8).sum() / 8).epsilon(1e-14));
  CHECK(j["cost"].get<double>() == doctest::Approx(1.39892941386).epsilon(1e-11));

  const Run unequal = box.run("exact --x " + ex + "x.csv --y " + ex + "y.csv --a " + ex +
                              "a.csv --b " + ex + "b.csv --plan q.csv");
  CHECK(unequal.exit == 2);
  CHECK(contains(unequal.err, "a.csv and " + ex + "b.csv: exact OT needs equal positive masses"));
  CHECK(contains(unequal.err, "normalize the weights"));
  const Run big = box.run("exact --x " + ex + "x.csv --y " + ex + "y.csv --memory-limit 1K");
  CHECK(big.exit == 2);
  CHECK(contains(big.err, "exact OT (6 x 8) needs 4.61 kB"));
  CHECK(!std::filesystem::exists(box.file("q.csv")));
}

TEST_CASE("cli: eot divergence from points or from costs, with its gradients") {
  Sandbox box;
  const std::string ex = data_path("examples/");
  const Run r = box.run("divergence --x " + ex + "x.csv --y " + ex + "y.csv --epsilon 0.05 " +
                        "--json --grad-x gx.npy --grad-y gy.csv --grad-a ga.csv --grad-b gb.csv");
  REQUIRE(r.exit == 0);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key :
       {"divergence", "ot_xy", "ot_xx", "ot_yy", "status", "iterations", "solve_time_seconds"})
    CHECK(j.contains(key));
  CHECK(j["status"] == "converged");
  const double s = j["divergence"];
  CHECK(s == doctest::Approx(j["ot_xy"].get<double>() -
                             (j["ot_xx"].get<double>() + j["ot_yy"].get<double>()) / 2));
  CHECK(eot::io::read_matrix(box.file("gx.npy")).rows() == 6);
  CHECK(eot::io::read_matrix(box.file("gy.csv")).rows() == 8);
  CHECK(eot::io::read_vector(box.file("ga.csv")).size() == 6);
  // The same from the three cost matrices.
  const MatrixD x = eot::io::read_matrix(ex + "x.csv"), y = eot::io::read_matrix(ex + "y.csv");
  auto costs = [](const MatrixD& p, const MatrixD& q) {
    MatrixD c(p.rows(), q.rows());
    for (Index i = 0; i < p.rows(); ++i) {
      for (Index k = 0; k < q.rows(); ++k) c(i, k) = (p.row(i) - q.row(k)).squaredNorm();
    }
    return c;
  };
  eot::io::write_matrix(box.file("cxy.csv"), costs(x, y));
  eot::io::write_matrix(box.file("cxx.csv"), costs(x, x));
  eot::io::write_matrix(box.file("cyy.csv"), costs(y, y));
  const Run dense = box.run(
      "divergence --cost-xy cxy.csv --cost-xx cxx.csv --cost-yy cyy.csv --epsilon 0.05 --json");
  REQUIRE(dense.exit == 0);
  CHECK(nlohmann::json::parse(dense.out)["divergence"].get<double>() ==
        doctest::Approx(s).epsilon(1e-10));
  const Run no_points = box.run("divergence --cost-xy cxy.csv --cost-xx cxx.csv --cost-yy " +
                                std::string("cyy.csv --epsilon 0.05 --grad-x g.csv"));
  CHECK(no_points.exit == 2);
  CHECK(contains(no_points.err, "--grad-x and --grad-y need point clouds"));
  const Run unequal = box.run("divergence --x " + ex + "x.csv --y " + ex + "y.csv --a " + ex +
                              "a.csv --b " + ex + "b.csv --epsilon 0.05");
  CHECK(unequal.exit == 2);
  CHECK(contains(unequal.err, "b.csv: balanced problem needs equal masses"));
  const Run budget = box.run("divergence --x " + ex + "x.csv --y " + ex + "y.csv --epsilon " +
                             "0.001 --max-iterations 3 --json");
  CHECK(budget.exit == 3);
}

TEST_CASE("cli: eot barycenter writes POT's barycenter, and bad input names the file") {
  Sandbox box;
  const std::string d = data_path("pot/barycenter/");
  const Run r = box.run("barycenter --measures " + d + "measures.csv --cost " + d +
                        "cost.csv --lambdas " + d + "lambdas.csv --epsilon 0.01 --tolerance " +
                        "1e-12 --max-iterations 100000 --out b.npy --json");
  REQUIRE(r.exit == 0);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  CHECK(j["status"] == "converged");
  CHECK(j["k"] == 3);
  const VectorXd b = eot::io::read_vector(box.file("b.npy"));
  CHECK((b - eot::io::read_vector(d + "barycenter.csv")).cwiseAbs().maxCoeff() < 1e-9);
  const Run debiased = box.run("barycenter --measures " + d + "measures.csv --cost " + d +
                               "cost.csv --lambdas " + d + "lambdas.csv --epsilon 0.01 " +
                               "--tolerance 1e-7 --max-iterations 100000 --out u.npy --json "
                               "--debiased");
  REQUIRE(debiased.exit == 0);
  CHECK(nlohmann::json::parse(debiased.out)["debiased"] == true);
  const VectorXd u = eot::io::read_vector(box.file("u.npy"));
  // Near POT's debiased barycenter (a residual of 1e-7 leaves about 1e-4: it converges slowly,
  // docs/conventions.md), far from the plain one.
  CHECK((u - eot::io::read_vector(d + "barycenter_debiased.csv")).cwiseAbs().maxCoeff() < 2e-4);
  CHECK((u - b).cwiseAbs().maxCoeff() > 1e-3);
  box.write("l.csv", "0.5\n0.6\n0.1\n");
  const Run bad = box.run("barycenter --measures " + d + "measures.csv --cost " + d +
                          "cost.csv --lambdas l.csv --epsilon 0.01 --out c.csv");
  CHECK(bad.exit == 2);
  CHECK(contains(bad.err, "l.csv: lambdas sum to 1.2; they must sum to 1"));
  CHECK(!std::filesystem::exists(box.file("c.csv")));
  const Run short_budget = box.run("barycenter --measures " + d + "measures.csv --cost " + d +
                                   "cost.csv --epsilon 0.01 --max-iterations 2 --out e.csv");
  CHECK(short_budget.exit == 3);
  CHECK(std::filesystem::exists(box.file("e.csv")));  // outputs are still written
}

TEST_CASE("cli: attention refuses what cannot fit before any work: weights, the backward pass") {
  Sandbox box;
  eot::io::write_matrix(box.file("q.npy"), uniform_matrix(300000, 1, 801));
  eot::io::write_matrix(box.file("v.npy"), uniform_matrix(300000, 1, 802));
  const auto start = std::chrono::steady_clock::now();
  const Run weights =
      box.run("attention --q q.npy --k q.npy --v v.npy --out o.npy --weights w.npy");
  CHECK(weights.exit == 2);
  CHECK(contains(weights.err, "eot: --weights (300000 x 300000) needs 720 GB but"));
  const Run backward =
      box.run("attention --q q.npy --k q.npy --v v.npy --out o.npy --grad-output v.npy " +
              std::string("--grad-q dq.npy"));
  CHECK(backward.exit == 2);
  CHECK(contains(backward.err, "the backward pass (300000 x 300000) needs 2.16 TB but"));
  // The forward pass alone would take minutes at this size: nothing ran.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
  CHECK(!std::filesystem::exists(box.file("o.npy")));
}

TEST_CASE("cli: a warm start never leaves the sweep worse than a cold solve") {
  Sandbox box;
  const std::string ex = data_path("examples/");
  const Run r =
      box.run("sweep --x " + ex + "x.csv --y " + ex + "y.csv --epsilons 0.1,1e300 --json");
  CHECK(r.exit == 0);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  CHECK(j["rows"][0]["epsilon"] == 0.1);
  CHECK(j["rows"][0]["status"] == "converged");
}

TEST_CASE("cli: attention never writes a non-finite value") {
  Sandbox box;
  box.write("q.csv", "1e200,0\n0,1\n");
  box.write("k.csv", "1e200,0\n1,1\n0,1\n");
  box.write("v.csv", "1\n2\n3\n");
  box.write("q2.csv", "1,0\n0,1\n");
  box.write("k4.csv", "1,0\n0,1\n1,1\n1,2\n");
  box.write("vinf.csv", "1\n2\n3\ninf\n");
  box.write("vbig.csv", "1e200\n1e200\n1e200\n1e200\n");
  box.write("g.csv", "1e200\n1e200\n");
  const std::string kept = box.write("o.csv", "an existing file\n");
  for (const auto& c : std::vector<std::pair<std::string, std::string>>{
           {"--q q.csv --k k.csv --v v.csv",
            "eot: q.csv and k.csv: the scores <q_i, k_j> may reach 1e400, beyond what double "
            "holds"},
           {"--q q.csv --k k.csv --v v.csv --regularizer sparsemax", "may reach 1e400"},
           {"--q q2.csv --k k4.csv --v vinf.csv --regularizer entmax15",
            "eot: o.csv: not written: the result overflows"},
           {"--q q2.csv --k k4.csv --v vbig.csv --grad-output g.csv --grad-q gq.csv",
            "eot: gq.csv: not written: the result overflows"}}) {
    const std::string &inputs = c.first, &message = c.second;
    CAPTURE(inputs);
    const Run r = box.run("attention " + inputs + " --out o.csv");
    CHECK(r.exit == 2);
    CHECK(contains(r.err, message));
    CHECK(slurp(kept) == "an existing file\n");
    CHECK(!std::filesystem::exists(box.file("gq.csv")));
  }
}

TEST_CASE("cli: a plan that overflows after a numerical failure is not written") {
  Sandbox box;
  box.write("c.csv", "-1500,-1500\n-1500,-1500\n");
  const Run r = box.run("solve --cost c.csv --epsilon 1 --rho-a 0 --rho-b 1 --plan p.csv");
  CHECK(r.exit == 2);
  CHECK(contains(r.err,
                 "eot: p.csv: not written: the plan overflows at the returned potentials "
                 "(numerical_failure)"));
  CHECK(!std::filesystem::exists(box.file("p.csv")));
}

TEST_CASE("cli: a 3-D cost or point cloud is a batch, each result what eot solve gives alone") {
  Sandbox box;
  const Index count = 4, n = 6, m = 5;
  eot::io::OutputBatch files;
  eot::io::Array costs{{count, n, m}, uniform_matrix(count * n, m, 801)};
  files.write_array(box.file("C.npy"), costs);
  MatrixD a(count, n);  // one row of weights a problem
  for (Index k = 0; k < count; ++k) a.row(k) = weights(n, 810 + unsigned(k)).transpose();
  files.write_matrix(box.file("a.npy"), a);
  files.write_vector(box.file("b.csv"), weights(m, 820));
  files.write_array(box.file("x.npy"), {{count, n, 2}, uniform_matrix(count * n, 2, 830)});
  files.write_matrix(box.file("y.csv"), uniform_matrix(m, 2, 831));  // shared by every problem
  for (Index k = 0; k < count; ++k) {
    files.write_matrix(box.file("C" + std::to_string(k) + ".csv"), costs.layer(k));
    files.write_vector(box.file("a" + std::to_string(k) + ".csv"), a.row(k).transpose());
  }
  files.commit();

  const Run r = box.run(
      "solve --cost C.npy --a a.npy --b b.csv --epsilon 0.1 --json --plan P.npy "
      "--potentials fg.csv --marginals rc.npy");
  REQUIRE(r.exit == 0);
  const nlohmann::json all = nlohmann::json::parse(r.out);
  REQUIRE(all.size() == std::size_t(count));
  const eot::io::Array plans = eot::io::read_array(box.file("P.npy"));
  CHECK(plans.shape == std::vector<Index>{count, n, m});
  const MatrixD potentials = eot::io::read_matrix(box.file("fg.csv"));
  const MatrixD marginals = eot::io::read_matrix(box.file("rc.npy"));
  CHECK(potentials.rows() == count);
  CHECK(marginals.cols() == n + m);
  for (Index k = 0; k < count; ++k) {
    CAPTURE(k);
    const std::string K = std::to_string(k);
    const Run alone = box.run("solve --cost C" + K + ".csv --a a" + K +
                              ".csv --b b.csv --epsilon 0.1 --json --plan P" + K +
                              ".npy --potentials fg" + K + ".npy");
    REQUIRE(alone.exit == 0);
    nlohmann::json one = nlohmann::json::parse(alone.out), batch = all[std::size_t(k)];
    one.erase("solve_time_seconds");
    batch.erase("solve_time_seconds");
    CHECK(batch == one);  // every field, exactly
    CHECK(MatrixD(plans.layer(k)) == eot::io::read_matrix(box.file("P" + K + ".npy")));
    CHECK(VectorXd(potentials.row(k).transpose()) ==
          eot::io::read_vector(box.file("fg" + K + ".npy")));
  }
  CHECK(contains(box.run("solve --cost C.npy --a a.npy --b b.csv --epsilon 0.1").out,
                 "4 of 4 converged"));

  // Point clouds: a batch of row clouds against one shared column cloud, in float.
  const Run clouds = box.run("solve --x x.npy --y y.csv --epsilon 0.1 --precision float --json");
  REQUIRE(clouds.exit == 0);
  CHECK(nlohmann::json::parse(clouds.out).size() == std::size_t(count));

  // Not every problem converging is exit 3, the outputs still written.
  const Run budget = box.run(
      "solve --cost C.npy --epsilon 0.01 --max-iterations 2 --check-every "
      "1 --potentials short.npy");
  CHECK(budget.exit == 3);
  CHECK(contains(budget.out, "0 of 4 converged"));
  CHECK(contains(budget.out, "not converged   problem 0: max_iterations"));
  CHECK(std::filesystem::exists(box.file("short.npy")));
}

TEST_CASE("cli: a bad batch is refused by file, problem and rule, and only eot solve takes one") {
  Sandbox box;
  eot::io::OutputBatch files;
  files.write_array(box.file("C.npy"), {{3, 4, 4}, uniform_matrix(12, 4, 840)});
  MatrixD a = MatrixD::Constant(3, 4, 0.25);
  a(2, 1) = -1;
  files.write_matrix(box.file("a.npy"), a);
  files.write_matrix(box.file("a2.npy"), MatrixD::Constant(2, 4, 0.25));
  files.write_array(box.file("x.npy"), {{3, 4, 2}, uniform_matrix(12, 2, 841)});
  files.write_array(box.file("y.npy"), {{2, 4, 2}, uniform_matrix(8, 2, 842)});
  files.write_array(box.file("x40.npy"), {{3, 40, 1}, uniform_matrix(120, 1, 843)});
  files.write_matrix(box.file("y40.npy"), uniform_matrix(40, 1, 844));
  files.commit();
  auto refused = [&](const std::string& args, const std::string& message) {
    CAPTURE(args);
    const Run r = box.run(args);
    CHECK(r.exit == 2);
    CHECK(contains(r.err, message));
    CHECK(!std::filesystem::exists(box.file("P.npy")));
  };
  refused("solve --cost C.npy --a a.npy --epsilon 0.1 --plan P.npy",
          "a.npy: problem 2: a(1) is -1");
  refused("solve --cost C.npy --a a2.npy --epsilon 0.1",
          "a2.npy: expected a vector (one column or one row), or one row of 4 weights for each of "
          "the 3 problems, got a 2 x 4 matrix");
  refused("solve --cost C.npy --epsilon 0.1 --plan P.csv",
          "--plan: P.csv: a batch's plans (3 x 4 x 4) are written as .npy");
  refused("solve --x x.npy --y y.npy --epsilon 0.1 --plan P.npy",
          "x.npy (3 x 4 x 2) and y.npy (2 x 4 x 2) hold different numbers of point clouds");
  refused(
      "sweep --cost C.npy --epsilons 1,0.1",
      "C.npy: a 3-D array is a batch of problems; eot sweep takes one (eot solve takes a batch)");
  refused("exact --cost C.npy", "eot exact takes one");
  refused("solve --x x40.npy --y y40.npy --epsilon 0.1 --memory-limit 10K --plan P.npy",
          "--plan: 3 plans (120 x 40) needs 38.4 kB");
}

TEST_CASE("cli: an input without a size (a pipe) is read only as far as the memory limit allows") {
  Sandbox box;
  for (const std::string name : {"f.csv", "f.npy"}) {
    CAPTURE(name);
    const std::string feed = name == "f.csv" ? "yes 1,2" : "cat /dev/zero";
    const Run r = box.run("solve --cost " + name + " --epsilon 1 --memory-limit 10M",
                          "mkfifo " + name + " && (" + feed + " > " + name + " 2> /dev/null &) &&");
    CHECK(r.exit == 2);
    CHECK(contains(r.err, name + ": "));
    CHECK(contains(r.err, "but the memory limit is 10.5 MB"));
  }
}

TEST_CASE("cli: a text file's values are counted before they are allocated") {
  // 500 x 500 values of 2 bytes each in the file ("1,"): 0.5 MB of text, 2 MB of doubles.
  Sandbox box;
  std::string row;
  for (int j = 0; j < 500; ++j) row += j == 0 ? "1" : ",1";
  std::string text;
  for (int i = 0; i < 500; ++i) text += row + "\n";
  box.write("c.csv", text);
  const Run r = box.run("solve --cost c.csv --epsilon 1 --memory-limit 1500K");
  CHECK(r.exit == 2);
  CHECK(contains(r.err, "c.csv: its values take 2 MB but the memory limit is 1.54 MB"));
  CHECK(box.run("solve --cost c.csv --epsilon 1 --memory-limit 6M --domain log").exit == 0);
}
