// eot attention: scaled-dot-product attention (and its two-sided, sparse and backward variants)
// from files, through the library's attention module.
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "eot/io.hpp"
#include "interrupt.hpp"

namespace eot::cli {

namespace {

struct AttentionArgs {
  std::string q, k, v, bias, key_padding, out, weights;
  std::string grad_output, grad_q, grad_k, grad_v;
  double epsilon = 0;  // 0: sqrt(d)
  bool causal = false, two_sided = false, json = false;
  int iterations = 0;
  std::string regularizer = "softmax", precision = "double";
  int threads = 0;
};

// The library names its arguments ("q(1, 2) is nan"); name the file they came from too.
[[noreturn]] void rethrow_with_file(const InvalidArgument& e, const AttentionArgs& args) {
  const std::string message = e.what();
  for (const auto& [name, file] :
       {std::pair{"q(", args.q}, std::pair{"k(", args.k}, std::pair{"v(", args.v},
        std::pair{"bias(", args.bias}, std::pair{"grad_output(", args.grad_output}}) {
    if (message.rfind(name, 0) == 0) bad_input(file + ": " + message);
  }
  if (message.rfind("q and k:", 0) == 0) bad_input(args.q + " and " + args.k + message.substr(7));
  throw e;
}

template <typename T>
int attention(const AttentionArgs& args) {
  io::check_outputs({{"--out", args.out},
                     {"--weights", args.weights},
                     {"--grad-q", args.grad_q},
                     {"--grad-k", args.grad_k},
                     {"--grad-v", args.grad_v}},
                    {args.q, args.k, args.v, args.bias, args.key_padding, args.grad_output});
  const Matrix<T> q = to_precision<T>(args.q, io::read_matrix(args.q));
  const Matrix<T> k = to_precision<T>(args.k, io::read_matrix(args.k));
  const Matrix<T> v = to_precision<T>(args.v, io::read_matrix(args.v));
  if (q.cols() != k.cols()) {
    bad_input(args.q + " has d = " + std::to_string(q.cols()) + " columns but " + args.k + " has " +
              std::to_string(k.cols()));
  }
  if (v.rows() != k.rows()) {
    bad_input(args.v + " has " + std::to_string(v.rows()) + " rows but " + args.k + " has " +
              std::to_string(k.rows()) + " (one value per key)");
  }
  if (args.epsilon < 0 || !std::isfinite(args.epsilon)) {
    bad_input("epsilon is " + number(args.epsilon) + ": it must be positive and finite");
  }
  attention::Mask<T> mask;
  mask.causal = args.causal;
  if (!args.bias.empty()) {
    mask.bias = to_precision<T>(args.bias, io::read_matrix(args.bias));
    if (mask.bias.rows() != q.rows() || mask.bias.cols() != k.rows()) {
      bad_input(args.bias + " is " + std::to_string(mask.bias.rows()) + " x " +
                std::to_string(mask.bias.cols()) + " but the scores are n x m = " +
                std::to_string(q.rows()) + " x " + std::to_string(k.rows()));
    }
  }
  if (!args.key_padding.empty()) {
    const Eigen::VectorXd padding = io::read_vector(args.key_padding);
    if (padding.size() != k.rows()) {
      bad_input(args.key_padding + " has " + std::to_string(padding.size()) + " entries but " +
                args.k + " has " + std::to_string(k.rows()) + " keys");
    }
    for (Index j = 0; j < padding.size(); ++j) {
      if (padding[j] != 0 && padding[j] != 1) {
        bad_input(args.key_padding + ": entry " + std::to_string(j) + " is " + number(padding[j]) +
                  "; expected 0 (a key) or 1 (padding)");
      }
      mask.key_padding.push_back(padding[j] == 1);
    }
  }
  const attention::Regularizer regularizer = attention::regularizer_from_string(args.regularizer);
  if (args.two_sided && regularizer != attention::Regularizer::Softmax) {
    bad_input("--two-sided needs --regularizer softmax");
  }
  Matrix<T> grad_output;
  if (!args.grad_output.empty()) {
    if (args.two_sided) bad_input("--grad-output is not available with --two-sided");
    grad_output = to_precision<T>(args.grad_output, io::read_matrix(args.grad_output));
    if (grad_output.rows() != q.rows() || grad_output.cols() != v.cols()) {
      bad_input(args.grad_output + " is " + std::to_string(grad_output.rows()) + " x " +
                std::to_string(grad_output.cols()) + " but the output is n x dv = " +
                std::to_string(q.rows()) + " x " + std::to_string(v.cols()));
    }
  }

  // What cannot fit is refused before any work: the weights as held and written, the
  // backward pass's arrays before the forward pass runs.
  if (!args.weights.empty()) {
    require_dense_fits(q.rows(), k.rows(), held_and_written_bytes<T>(), "--weights",
                       "write --out alone (the output never forms the weights)");
  }
  if (grad_output.size() != 0) attention::require_backward_fits<T>(q.rows(), k.rows());
  const auto start = std::chrono::steady_clock::now();
  Matrix<T> out, weights;
  attention::TwoSided<T> two_sided;
  attention::Gradients<T> grads;
  try {
    if (args.two_sided) {
      two_sided = attention::sinkhorn(q, k, v, args.epsilon, mask, args.iterations, args.threads);
      out = two_sided.output;
      weights = two_sided.weights;
    } else if (regularizer == attention::Regularizer::Softmax) {
      out = attention::forward(q, k, v, args.epsilon, mask, args.threads,
                               args.weights.empty() ? nullptr : &weights);
    } else {
      weights = attention::weights(q, k, args.epsilon, mask, regularizer, args.threads);
      out = weights * v;
    }
    if (grad_output.size() != 0) {
      grads =
          attention::backward(q, k, v, grad_output, args.epsilon, mask, regularizer, args.threads);
    }
  } catch (const InvalidArgument& e) {
    rethrow_with_file(e, args);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  throw_if_interrupted();
  io::OutputBatch outputs;  // every output lands, or none does
  // Never a non-finite value: what overflowed is refused, and nothing is written.
  auto write = [&](const std::string& file, const Matrix<T>& values) {
    if (!values.allFinite()) {
      bad_input(file +
                ": not written: the result overflows (values of q, k, v or the gradient "
                "of the output too large for " +
                args.precision + "); rescale them");
    }
    outputs.write_matrix(file, values.template cast<double>());
  };
  write(args.out, out);
  if (!args.weights.empty()) write(args.weights, weights);
  for (const auto& [file, grad] :
       {std::pair{args.grad_q, &grads.dq}, std::pair{args.grad_k, &grads.dk},
        std::pair{args.grad_v, &grads.dv}}) {
    if (!file.empty()) write(file, *grad);
  }
  throw_if_interrupted();
  outputs.commit();

  const double epsilon = args.epsilon > 0 ? args.epsilon : std::sqrt(double(q.cols()));
  const bool converged =
      !args.two_sided || args.iterations > 0 || two_sided.status == Status::Converged;
  if (args.json) {
    nlohmann::ordered_json j = {{"status", converged ? "converged" : to_string(two_sided.status)},
                                {"n", q.rows()},
                                {"m", k.rows()},
                                {"d", q.cols()},
                                {"dv", v.cols()},
                                {"epsilon", epsilon},
                                {"regularizer", args.regularizer},
                                {"causal", args.causal},
                                {"two_sided", args.two_sided},
                                {"precision", args.precision},
                                {"time_seconds", seconds},
                                {"version", kVersion}};
    if (args.two_sided) {
      j["normalizations"] = args.iterations;
      j["column_error"] = two_sided.column_error;
    }
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "eot attention: n = " << q.rows() << " queries, m = " << k.rows()
              << " keys, d = " << q.cols() << ", epsilon = " << epsilon << ", " << args.regularizer
              << (args.two_sided ? ", two-sided" : "") << (args.causal ? ", causal" : "") << "\n";
    if (args.two_sided) {
      std::cout << "  normalizations "
                << (args.iterations ? std::to_string(args.iterations) : "to convergence")
                << ", column error " << two_sided.column_error << "\n";
    }
    std::cout << "  wrote " << args.out << " (" << out.rows() << " x " << out.cols() << ") in "
              << seconds << " s\n";
  }
  return converged ? kConverged : kNotConverged;
}

}  // namespace

void add_attention_command(CLI::App& app, Runner& run) {
  auto args = std::make_shared<AttentionArgs>();
  CLI::App* c = app.add_subcommand(
      "attention",
      "Scaled-dot-product attention as one-sided EOT: O = softmax(Q K^T / epsilon + bias) V");
  c->footer(kExitCodes);
  c->add_option("--q", args->q, "queries, n x d")->required();
  c->add_option("--k", args->k, "keys, m x d")->required();
  c->add_option("--v", args->v, "values, m x dv")->required();
  c->add_option("--epsilon", args->epsilon, "temperature (default sqrt(d))");
  c->add_flag("--causal", args->causal, "query i sees keys j <= i");
  c->add_option("--bias", args->bias, "n x m, added to the scaled scores (-inf masks a pair)");
  c->add_option("--key-padding", args->key_padding, "m entries, 1 = padding key (never seen)");
  c->add_flag("--two-sided", args->two_sided,
              "Sinkhorn attention: columns constrained to n / m too");
  c->add_option("--iterations", args->iterations,
                "with --two-sided: normalizations, rows first (1 = SDPA); 0 = to convergence")
      ->capture_default_str();
  c->add_option("--regularizer", args->regularizer, one_of(names(attention::kRegularizers)))
      ->check(CLI::IsMember(names(attention::kRegularizers)))
      ->capture_default_str();
  c->add_option("--out", args->out, "write the output O, n x dv")->required();
  c->add_option("--weights", args->weights, "write the attention weights, n x m");
  CLI::Option* grad = c->add_option("--grad-output", args->grad_output, "dL/dO, n x dv");
  for (const auto& [flag, target, help] : {std::tuple{"--grad-q", &args->grad_q, "write dL/dQ"},
                                           std::tuple{"--grad-k", &args->grad_k, "write dL/dK"},
                                           std::tuple{"--grad-v", &args->grad_v, "write dL/dV"}}) {
    c->add_option(flag, *target, help)->needs(grad);
  }
  c->add_option("--precision", args->precision, "float or double")
      ->check(CLI::IsMember({"float", "double"}))
      ->capture_default_str();
  c->add_option("--threads", args->threads,
                "threads, 0 to 1024 (0 = every CPU this process may use)")
      ->check(CLI::Range(0, kMaxThreads));
  c->add_flag("--json", args->json, "print one JSON object on stdout instead of the summary");
  c->callback([args, &run] {
    run = [args] {
      return args->precision == "float" ? attention<float>(*args) : attention<double>(*args);
    };
  });
}

}  // namespace eot::cli
