// eot bench-attention: the fused attention kernels, forward and backward, in float on random
// data, in the shapes of a PyTorch (1, H, L, d) tensor. tools/bench_torch.py runs it next to
// PyTorch on the same shapes.
#include "bench_attention.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

namespace eot::cli {

namespace {

Matrix<float> normal_matrix(Index rows, Index cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Matrix<float> x(rows, cols);
  for (Index k = 0; k < x.size(); ++k) x.data()[k] = normal(rng);
  return x;
}

struct Timing {
  Index length;
  double forward, backward;  // seconds; backward is given the forward's output and lse
};

}  // namespace

int bench_attention(const std::vector<Index>& lengths, Index heads, Index d, int threads,
                    int repeats, bool json) {
  if (lengths.empty() || heads < 1 || d < 1 || threads < 1 || repeats < 1) {
    bad_input("bench-attention: lengths, heads, d, threads and repeats must be positive");
  }
  std::vector<Timing> timings;
  for (const Index length : lengths) {
    if (length < 1) bad_input("bench-attention: lengths must be positive");
    const Index rows = heads * length;
    const Matrix<float> q = normal_matrix(rows, d, 1), k = normal_matrix(rows, d, 2),
                        v = normal_matrix(rows, d, 3), d_out = normal_matrix(rows, d, 4);
    Matrix<float> out;
    Vector<float> lse;
    auto forward = [&] { out = attention::forward_batched(q, k, v, heads, 0, {}, threads, &lse); };
    auto backward = [&] {
      attention::backward_batched(q, k, v, d_out, heads, 0, {}, threads, &out, &lse);
    };
    forward();  // untimed: the first runs allocate and touch the buffers
    backward();
    timings.push_back({length, best_seconds(repeats, forward), best_seconds(repeats, backward)});
  }
  // Forward GFLOP/s count the two products, 4 L^2 d per head (exp and the rest not counted).
  auto gflops = [&](const Timing& t) {
    return 4.0 * double(t.length) * double(t.length) * double(d) * double(heads) / t.forward / 1e9;
  };
  if (json) {
    nlohmann::ordered_json rows = nlohmann::json::array();
    for (const Timing& t : timings) {
      rows.push_back({{"length", t.length},
                      {"heads", heads},
                      {"d", d},
                      {"threads", threads},
                      {"forward_ms", t.forward * 1e3},
                      {"backward_ms", t.backward * 1e3},
                      {"forward_gflops", gflops(t)}});
    }
    nlohmann::ordered_json j = {{"precision", "float"},
                                {"repeats", repeats},
                                {"simd", Eigen::SimdInstructionSetsInUse()},
                                {"version", kVersion},
                                {"results", rows}};
    std::cout << j.dump(2) << "\n";
    return kConverged;
  }
  std::printf("eot bench-attention: float, best of %d, Eigen SIMD: %s\n", repeats,
              Eigen::SimdInstructionSetsInUse());
  std::printf("%8s %6s %5s %8s %12s %12s %10s\n", "L", "heads", "d", "threads", "forward ms",
              "backward ms", "fwd GFLOP/s");
  for (const Timing& t : timings) {
    std::printf("%8lld %6lld %5lld %8d %12.2f %12.2f %10.1f\n", static_cast<long long>(t.length),
                static_cast<long long>(heads), static_cast<long long>(d), threads, t.forward * 1e3,
                t.backward * 1e3, gflops(t));
  }
  return kConverged;
}

void add_bench_attention_command(CLI::App& app, Runner& run) {
  auto lengths = std::make_shared<std::vector<Index>>(std::vector<Index>{1024, 4096});
  auto heads = std::make_shared<Index>(8);
  auto d = std::make_shared<Index>(64);
  auto threads = std::make_shared<int>(2);
  auto repeats = std::make_shared<int>(3);
  auto json = std::make_shared<bool>(false);
  CLI::App* c = app.add_subcommand(
      "bench-attention", "Time the attention kernels (float forward and backward, no mask)");
  c->add_option("--lengths", *lengths, "sequence lengths L (n = m = L)")->capture_default_str();
  c->add_option("--heads", *heads, "heads (batch 1)")->capture_default_str();
  c->add_option("--d", *d, "head dimension (values too)")->capture_default_str();
  c->add_option("--threads", *threads, "threads, 1 to 1024")
      ->check(CLI::Range(1, kMaxThreads))
      ->capture_default_str();
  c->add_option("--repeats", *repeats,
                "timings per kernel, after one untimed run; the best is reported")
      ->capture_default_str();
  c->add_flag("--json", *json, "print one JSON object on stdout instead of the table");
  c->callback([=, &run] {
    run = [=] { return bench_attention(*lengths, *heads, *d, *threads, *repeats, *json); };
  });
}

}  // namespace eot::cli
