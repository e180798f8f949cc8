// The attention module on inputs decoded from arbitrary bytes: the shapes, q, k, v, a bias, key
// padding, causal, epsilon and the output gradient that `eot attention` reads, in float or
// double, through the forward kernel, the weights of every regularizer, two-sided attention and
// the backward pass. Refusal (InvalidArgument) is fine; any other exception or sanitizer report
// is a bug, and so are weights outside [0, 1], rows of weights that sum to neither 1 nor 0 (a
// query that sees no key), and a non-finite output from finite inputs of moderate size (the
// output is an average of rows of v).
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "eot/attention.hpp"
#include "eot/error.hpp"
#include "values.hpp"

namespace {

using eot::Index;
namespace att = eot::attention;

template <typename T>
eot::Matrix<T> matrix(FuzzedDataProvider& in, Index rows, Index cols) {
  eot::Matrix<T> out(rows, cols);
  for (Index k = 0; k < out.size(); ++k) out.data()[k] = T(any_value(in));
  return out;
}

template <typename T>
bool moderate(const eot::Matrix<T>& x) {
  return x.allFinite() && (x.size() == 0 || x.cwiseAbs().maxCoeff() <= T(1e6));
}

template <typename Derived>
void print(const char* name, const Eigen::DenseBase<Derived>& values) {
  std::fprintf(stderr, "%s (%td x %td):", name, values.rows(), values.cols());
  for (Index k = 0; k < values.size(); ++k)
    std::fprintf(stderr, " %.17g", double(values(k / values.cols(), k % values.cols())));
  std::fprintf(stderr, "\n");
}

// What the failing input was, then the failure.
std::function<void()> describe;
[[noreturn]] void fail(const char* what) {
  describe();
  std::fprintf(stderr, "attention: %s\n", what);
  std::abort();
}

template <typename T>
void check_weights(const eot::Matrix<T>& w, double slack) {
  if (!w.allFinite() || (w.array() < 0).any() || (w.array() > T(1) + T(slack)).any()) {
    print("weights", w);
    fail("weights outside [0, 1]");
  }
  for (Index i = 0; i < w.rows(); ++i) {
    const double sum = double(w.row(i).sum());
    if (sum != 0 && std::abs(sum - 1) > slack) {
      print("weights", w);
      fail("a row of weights sums to neither 1 nor 0");
    }
  }
}

template <typename T>
void run(FuzzedDataProvider& in) {
  const Index n = in.ConsumeIntegralInRange(1, 6), m = in.ConsumeIntegralInRange(1, 6),
              d = in.ConsumeIntegralInRange(1, 4), dv = in.ConsumeIntegralInRange(1, 3);
  const eot::Matrix<T> q = matrix<T>(in, n, d), k = matrix<T>(in, m, d), v = matrix<T>(in, m, dv);
  att::Mask<T> mask;
  mask.causal = in.ConsumeBool();
  if (in.ConsumeBool()) {
    for (Index j = 0; j < m; ++j) mask.key_padding.push_back(in.ConsumeBool());
  }
  if (in.ConsumeBool()) mask.bias = matrix<T>(in, n, m);
  const double epsilon = in.ConsumeBool() ? 0.0 : any_value(in);  // 0: sqrt(d)
  const eot::Matrix<T> grad = matrix<T>(in, n, dv);
  const double slack = std::is_same_v<T, float> ? 1e-4 : 1e-10;
  const int use = in.ConsumeIntegralInRange(0, 3);
  describe = [&] {
    std::fprintf(stderr, "%s, use %d, epsilon %.17g, causal %d\n",
                 std::is_same_v<T, float> ? "float" : "double", use, epsilon, int(mask.causal));
    print("q", q);
    print("k", k);
    print("v", v);
    if (mask.bias.size()) print("bias", mask.bias);
    for (bool padded : mask.key_padding) std::fprintf(stderr, "%d", int(padded));
    std::fprintf(stderr, "\n");
  };
  try {
    if (use == 0) {
      eot::Matrix<T> w;
      const eot::Matrix<T> out = att::forward(q, k, v, epsilon, mask, 1, &w);
      check_weights(w, slack);
      if (moderate(q) && moderate(k) && moderate(v) && moderate(mask.bias) && !out.allFinite())
        fail("a non-finite output from moderate inputs");
    } else if (use == 1) {
      const auto regularizer = att::Regularizer(in.ConsumeIntegralInRange(0, 2));
      check_weights(att::weights(q, k, epsilon, mask, regularizer, 1), slack);
    } else if (use == 2) {
      const att::TwoSided<T> r =
          att::sinkhorn(q, k, v, epsilon, mask, in.ConsumeIntegralInRange(0, 5), 1);
      if (!r.weights.allFinite() || (r.weights.array() < 0).any()) fail("two-sided weights");
    } else {
      const auto regularizer = att::Regularizer(in.ConsumeIntegralInRange(0, 2));
      att::backward(q, k, v, grad, epsilon, mask, regularizer, 1);
    }
  } catch (const eot::InvalidArgument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  if (in.ConsumeBool()) {
    run<float>(in);
  } else {
    run<double>(in);
  }
  return 0;
}
