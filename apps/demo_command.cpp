// eot demo sdpa: scaled-dot-product attention as one-sided EOT, claim by claim, on seeded data.
// Every line prints a measured number next to the claim, and whether it holds at the stated
// tolerance. The computations are the library's; this file only draws data, measures and prints.
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cstdio>
#include <random>

#include "common.hpp"

namespace eot::cli {

namespace {

namespace at = attention;
using Eigen::MatrixXd;
using Eigen::VectorXd;
using MatrixD = Matrix<double>;

class Demo {
 public:
  explicit Demo(unsigned seed) : rng_(seed) {}

  MatrixD gaussian(Index rows, Index cols, double scale = 1) {
    std::normal_distribution<double> normal(0, scale);
    MatrixD out(rows, cols);
    for (Index k = 0; k < out.size(); ++k) out.data()[k] = normal(rng_);
    return out;
  }
  std::mt19937& rng() { return rng_; }

  void section(const char* title) { std::printf("\n%s\n", title); }
  // One claim: its measured value, and whether it holds.
  void claim(const char* what, double measured, bool holds, const char* unit = "") {
    std::printf("  %-66s %11.3e %-6s %s\n", what, measured, unit, holds ? "holds" : "FAILS");
    failures_ += holds ? 0 : 1;
  }
  // A measurement reported as it is, without a verdict.
  void measure(const char* what, double measured, const char* unit = "") {
    std::printf("  %-66s %11.3e %s\n", what, measured, unit);
  }
  void note(const std::string& text) { std::printf("  %s\n", text.c_str()); }
  int failures() const { return failures_; }

 private:
  std::mt19937 rng_;
  int failures_ = 0;
};

double max_diff(const MatrixXd& x, const MatrixXd& y) {
  return (x - y).cwiseAbs().maxCoeff();
}

// Central differences of f at x, one entry of x at a time: column k is (f(x + h e_k) - f(x - h
// e_k)) / (2 h), f's value (a number or a vector) as a column. x's entries in storage order.
template <typename X, typename F>
MatrixXd central_differences(X x, double h, F&& f) {
  auto column = [](const auto& value) -> VectorXd {
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(value)>>)
      return VectorXd::Constant(1, value);
    else
      return value;
  };
  MatrixXd out;
  for (Index k = 0; k < x.size(); ++k) {
    const double keep = x.data()[k];
    x.data()[k] = keep + h;
    const VectorXd up = column(f(x));
    x.data()[k] = keep - h;
    const VectorXd down = column(f(x));
    x.data()[k] = keep;
    if (k == 0) out.resize(up.size(), x.size());
    out.col(k) = (up - down) / (2 * h);
  }
  return out;
}

// The gradient of a number-valued f, shaped as x (row-major, as MatrixD).
template <typename F>
MatrixD gradient(const MatrixD& x, double h, F&& f) {
  const MatrixXd row = central_differences(x, h, f);
  return Eigen::Map<const MatrixD>(row.data(), x.rows(), x.cols());
}

double entropy(const VectorXd& p) {
  return -(p.array() > 0).select(p.array() * p.array().log(), 0.0).sum();
}

void forward_claims(Demo& demo) {
  demo.section("1. Forward: attention is the solution of the one-sided EOT problem");
  const Index n = 64, m = 96, d = 16;
  const MatrixD q = demo.gaussian(n, d), k = demo.gaussian(m, d), v = demo.gaussian(m, 8);
  const double eps = std::sqrt(double(d));
  MatrixD s = q * k.transpose() / eps;
  s = (s.colwise() - s.rowwise().maxCoeff()).array().exp();
  const MatrixD closed = s.array().colwise() / s.rowwise().sum().array();  // softmax(QK^T/sqrt(d))
  MatrixD fused_w, solver_w;
  const MatrixD fused = at::forward(q, k, v, 0, {}, 0, &fused_w);
  const MatrixD solver = at::forward_via_solver(q, k, v, 0, {}, 0, &solver_w);
  demo.note("n = 64 queries, m = 96 keys, d = 16, epsilon = sqrt(d) = 4; double:");
  demo.claim("solver route (one f-update) vs closed-form softmax, weights",
             max_diff(solver_w, closed), max_diff(solver_w, closed) < 1e-14, "max|d|");
  demo.claim("fused streaming kernel vs closed-form softmax, weights", max_diff(fused_w, closed),
             max_diff(fused_w, closed) < 1e-14, "max|d|");
  demo.claim("solver route vs fused kernel, output O = P V", max_diff(solver, fused),
             max_diff(solver, fused) < 1e-13, "max|d|");
  const Matrix<float> qf = q.cast<float>(), kf = k.cast<float>(), vf = v.cast<float>();
  const double float_fused = max_diff(at::forward(qf, kf, vf).cast<double>(), closed * v);
  const double float_solver =
      max_diff(at::forward_via_solver(qf, kf, vf).cast<double>(), closed * v);
  demo.claim("float: fused kernel vs double closed form, output", float_fused, float_fused < 1e-5,
             "max|d|");
  demo.claim("float: solver route vs double closed form, output", float_solver, float_solver < 1e-5,
             "max|d|");
  // The solution minimizes <C, p> - epsilon H(p) on the simplex: perturb it and compare.
  double worst = kInf;
  for (Index i = 0; i < n; ++i) {
    const VectorXd p = closed.row(i).transpose(), cost = -(k * q.row(i).transpose());
    auto objective = [&](const VectorXd& x) { return cost.dot(x) - eps * entropy(x); };
    for (int trial = 0; trial < 20; ++trial) {
      VectorXd delta = demo.gaussian(m, 1);
      delta.array() -= delta.mean();
      const double step = 0.5 * p.minCoeff() / delta.cwiseAbs().maxCoeff();
      worst = std::min(worst, objective(p + step * delta) - objective(p));
    }
  }
  demo.claim("min over 1280 feasible perturbations of objective(p') - objective(p*)", worst,
             worst > 0, "> 0");
}

void backward_claims(Demo& demo) {
  demo.section("2. Backward: the gradient of attention is an advantage-based policy gradient");
  const Index n = 12, m = 16, d = 8;
  const MatrixD q = demo.gaussian(n, d), k = demo.gaussian(m, d), v = demo.gaussian(m, 4);
  const MatrixD g = demo.gaussian(n, 4);
  const double eps = std::sqrt(double(d)), h = 1e-6;
  const at::Gradients<double> grads = at::backward(q, k, v, g, eps);
  MatrixD p;
  at::forward(q, k, v, eps, {}, 0, &p);
  const MatrixD advantage = at::score_gradient_advantage(p, v, g, eps);
  demo.claim("dL/dS: standard backprop (D = <dO, O>) vs (1/eps) p (u - E_p[u])",
             max_diff(grads.ds, advantage), max_diff(grads.ds, advantage) < 1e-14, "max|d|");
  // The same through the Fisher information: dL/ds_i = F(p_i) u_i / epsilon, u_i = V dO_i.
  double fisher_gap = 0;
  for (Index i = 0; i < n; ++i) {
    const VectorXd u = v * g.row(i).transpose();
    const VectorXd via_fisher = at::fisher(p.row(i).transpose()) * u / eps;
    fisher_gap =
        std::max(fisher_gap, (via_fisher - grads.ds.row(i).transpose()).cwiseAbs().maxCoeff());
  }
  demo.claim("dL/dS: standard backprop vs F u / eps (Hessian of Phi times dL/dp)", fisher_gap,
             fisher_gap < 1e-14, "max|d|");
  auto loss = [&](const MatrixD& qq, const MatrixD& kk, const MatrixD& vv) {
    return at::forward(qq, kk, vv, eps).cwiseProduct(g).sum();
  };
  const MatrixD numeric_dq = gradient(q, h, [&](const MatrixD& x) { return loss(x, k, v); });
  const double dq = max_diff(grads.dq, numeric_dq);
  const double dk =
      max_diff(grads.dk, gradient(k, h, [&](const MatrixD& x) { return loss(q, x, v); }));
  const double dv =
      max_diff(grads.dv, gradient(v, h, [&](const MatrixD& x) { return loss(q, k, x); }));
  const double dq_adv = max_diff(advantage * k, numeric_dq);
  demo.claim("dL/dQ (backprop) vs central finite differences (h = 1e-6)", dq, dq < 1e-8, "max|d|");
  demo.claim("dL/dK (backprop) vs central finite differences", dk, dk < 1e-8, "max|d|");
  demo.claim("dL/dV (backprop) vs central finite differences", dv, dv < 1e-8, "max|d|");
  demo.claim("dL/dQ from the advantage form vs central finite differences", dq_adv, dq_adv < 1e-8,
             "max|d|");
}

void geometry_claims(Demo& demo) {
  demo.section("3. Geometry: the Fisher information is the Hessian of the log-sum-exp potential");
  const Index m = 10;
  const double eps = 0.7, h = 1e-5;
  const VectorXd s = demo.gaussian(m, 1), s2 = demo.gaussian(m, 1);
  const VectorXd p = at::softmax(s, eps);
  const MatrixXd f = at::fisher(p);
  const VectorXd grad_phi = central_differences(s, h, [&](const VectorXd& x) {
                              return at::lse_potential(x, eps);
                            }).transpose();
  const MatrixXd hessian =
      central_differences(s, h, [&](const VectorXd& x) { return at::softmax(x, eps); });
  const Eigen::SelfAdjointEigenSolver<MatrixXd> spectrum(f);
  const VectorXd p2 = at::softmax(s2, eps);
  const double kl = (p.array() * (p.array() / p2.array()).log()).sum();
  const double bregman = std::abs(at::bregman(s2, s, eps) - eps * kl);
  demo.claim("grad Phi (finite differences) vs p = softmax(s / eps)", max_diff(grad_phi, p),
             max_diff(grad_phi, p) < 1e-9, "max|d|");
  demo.claim("Hessian Phi (finite differences) vs F / eps, F = diag(p) - p p^T",
             max_diff(hessian, f / eps), max_diff(hessian, f / eps) < 1e-9, "max|d|");
  demo.claim("F 1 = 0", (f * VectorXd::Ones(m)).cwiseAbs().maxCoeff(),
             (f * VectorXd::Ones(m)).cwiseAbs().maxCoeff() < 1e-15, "max|.|");
  demo.claim("rank F = m - 1: smallest eigenvalue", std::abs(spectrum.eigenvalues()[0]),
             std::abs(spectrum.eigenvalues()[0]) < 1e-15, "|l_1|");
  demo.claim("rank F = m - 1: second smallest eigenvalue", spectrum.eigenvalues()[1],
             spectrum.eigenvalues()[1] > 1e-6, "l_2");
  demo.claim("Bregman divergence of Phi vs eps KL(p | p')", bregman, bregman < 1e-13, "|d|");
}

// E|ghat - g|^2 of the REINFORCE estimator ghat = (u_J - beta)(e_J - p) / eps, J ~ p, exactly.
double reinforce_variance(const VectorXd& p, const VectorXd& u, double beta, double eps) {
  const VectorXd g =
      p.cwiseProduct(u.array().matrix() - VectorXd::Constant(p.size(), p.dot(u))) / eps;
  double second = 0;
  for (Index j = 0; j < p.size(); ++j) {
    const double w = (VectorXd::Unit(p.size(), j) - p).squaredNorm();
    second += p[j] * (u[j] - beta) * (u[j] - beta) * w / (eps * eps);
  }
  return second - g.squaredNorm();
}

double optimal_baseline(const VectorXd& p, const VectorXd& u) {
  double num = 0, den = 0;
  for (Index j = 0; j < p.size(); ++j) {
    const double w = (VectorXd::Unit(p.size(), j) - p).squaredNorm();
    num += p[j] * w * u[j];
    den += p[j] * w;
  }
  return num / den;
}

void policy_gradient_claims(Demo& demo) {
  demo.section("4. Policy gradient: REINFORCE with baselines (variance = E|ghat - g|^2)");
  // Unbiasedness, by sampling.
  const Index m = 8;
  const double eps = 1.0;
  const VectorXd p = at::softmax(demo.gaussian(m, 1), eps), u = demo.gaussian(m, 1);
  const VectorXd exact = p.cwiseProduct(u - VectorXd::Constant(m, p.dot(u))) / eps;
  std::discrete_distribution<Index> draw(p.data(), p.data() + m);
  const int samples = 200000;
  for (const auto& [name, beta] : {std::pair{"0", 0.0}, std::pair{"E_p[u]", p.dot(u)},
                                   std::pair{"beta*", optimal_baseline(p, u)}}) {
    VectorXd mean = VectorXd::Zero(m), square = VectorXd::Zero(m);
    for (int t = 0; t < samples; ++t) {
      const Index j = draw(demo.rng());
      const VectorXd ghat = (u[j] - beta) * (VectorXd::Unit(m, j) - p) / eps;
      mean += ghat;
      square += ghat.cwiseAbs2();
    }
    mean /= samples;
    const VectorXd stderr_ = ((square / samples - mean.cwiseAbs2()) / samples).cwiseSqrt();
    const double z = ((mean - exact).cwiseAbs().array() / stderr_.array().max(1e-300)).maxCoeff();
    const std::string what =
        "unbiased with baseline " + std::string(name) + ": max |mean - g| / stderr, 2e5 draws";
    demo.claim(what.c_str(), z, z < 4.5, "z");
  }
  // Variances over many random instances.
  std::vector<double> ratios;
  int worse = 0, optimal_best = 0;
  const int instances = 10000;
  for (int t = 0; t < instances; ++t) {
    const VectorXd pt = at::softmax(demo.gaussian(m, 1, 2.0), 1.0), ut = demo.gaussian(m, 1);
    const double v0 = reinforce_variance(pt, ut, 0, 1),
                 vmean = reinforce_variance(pt, ut, pt.dot(ut), 1);
    const double vstar = reinforce_variance(pt, ut, optimal_baseline(pt, ut), 1);
    ratios.push_back(vmean / v0);
    worse += vmean > v0;
    optimal_best += vstar <= std::min(v0, vmean) * (1 + 1e-12);
  }
  std::nth_element(ratios.begin(), ratios.begin() + instances / 2, ratios.end());
  demo.claim("10000 random instances (m = 8): median var(E_p[u]) / var(0)", ratios[instances / 2],
             ratios[instances / 2] < 1, "ratio");
  demo.measure("  fraction where the mean baseline does NOT reduce the variance",
               double(worse) / instances, "share");
  demo.claim("  fraction where beta* gives the least variance of the three",
             double(optimal_best) / instances, optimal_best == instances, "share");
  const VectorXd pc = (VectorXd(2) << 0.9, 0.1).finished(), uc = (VectorXd(2) << 1, -5).finished();
  const double c0 = reinforce_variance(pc, uc, 0, 2), cmean = reinforce_variance(pc, uc, 0.4, 2);
  const double cstar = reinforce_variance(pc, uc, optimal_baseline(pc, uc), 2);
  demo.note("counterexample p = (0.9, 0.1), u = (1, -5), eps = 2:");
  demo.claim("  variance with baseline 0 (expected 0.871)", c0, std::abs(c0 - 0.8712) < 1e-12, "");
  demo.claim("  variance with the mean baseline (larger: 1.037)", cmean,
             std::abs(cmean - 1.0368) < 1e-12 && cmean > c0, "");
  demo.claim("  variance with beta* = -4.4 (zero)", cstar, std::abs(cstar) < 1e-12, "");
}

void temperature_claims(Demo& demo) {
  demo.section(
      "5. Temperature: epsilon -> 0 is hard attention, epsilon -> inf uniform; why sqrt(d)");
  const Index n = 32, m = 64, d = 64;
  const MatrixD q = demo.gaussian(n, d), k = demo.gaussian(m, d);
  std::printf("  %-16s %14s %14s\n", "epsilon/sqrt(d)", "mean entropy", "mean max p");
  double first_entropy = 0, last_entropy = 0, first_max = 0, last_max = 0;
  for (double factor : {1e-6, 0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0}) {
    const MatrixD p = at::weights(q, k, factor * std::sqrt(double(d)));
    double h = 0;
    for (Index i = 0; i < n; ++i) h += entropy(p.row(i).transpose()) / n;
    const double top = p.rowwise().maxCoeff().mean();
    std::printf("  %-16g %14.6f %14.6f\n", factor, h, top);
    if (factor == 1e-6) first_entropy = h, first_max = top;
    last_entropy = h, last_max = top;
  }
  demo.claim("epsilon = 1e-6 sqrt(d): mean max weight (hard attention -> 1)", first_max,
             first_max > 0.999, "");
  demo.claim("epsilon = 1e-6 sqrt(d): mean entropy (-> 0)", first_entropy, first_entropy < 1e-2,
             "nats");
  demo.claim("epsilon = 1000 sqrt(d): log m - mean entropy (uniform -> 0)",
             std::log(double(m)) - last_entropy, std::log(double(m)) - last_entropy < 1e-4, "nats");
  demo.claim("epsilon = 1000 sqrt(d): mean max weight - 1/m (-> 0)", last_max - 1.0 / m,
             last_max - 1.0 / m < 1e-3, "");
  std::printf(
      "\n  mean entropy of softmax(q k^T / epsilon), unit-variance q, k, m = 64 (log m = %.3f):\n",
      std::log(64.0));
  std::printf("  %-8s %18s %18s\n", "d", "epsilon = 1", "epsilon = sqrt(d)");
  double spread_one_lo = kInf, spread_one_hi = 0, spread_sqrt_lo = kInf, spread_sqrt_hi = 0;
  for (Index dim : {4, 16, 64, 256, 1024}) {
    const MatrixD qd = demo.gaussian(n, dim), kd = demo.gaussian(m, dim);
    double h1 = 0, hs = 0;
    const MatrixD p1 = at::weights(qd, kd, 1.0), ps = at::weights(qd, kd, std::sqrt(double(dim)));
    for (Index i = 0; i < n; ++i) {
      h1 += entropy(p1.row(i).transpose()) / n;
      hs += entropy(ps.row(i).transpose()) / n;
    }
    std::printf("  %-8ld %18.4f %18.4f\n", long(dim), h1, hs);
    spread_one_lo = std::min(spread_one_lo, h1), spread_one_hi = std::max(spread_one_hi, h1);
    spread_sqrt_lo = std::min(spread_sqrt_lo, hs), spread_sqrt_hi = std::max(spread_sqrt_hi, hs);
  }
  demo.claim("entropy range over d = 4..1024 with epsilon = sqrt(d)",
             spread_sqrt_hi - spread_sqrt_lo, spread_sqrt_hi - spread_sqrt_lo < 0.5, "nats");
  demo.claim("entropy range over d = 4..1024 with epsilon = 1 (collapses)",
             spread_one_hi - spread_one_lo, spread_one_hi - spread_one_lo > 2, "nats");
}

void two_sided_claims(Demo& demo) {
  demo.section("6. Two-sided (Sinkhorn) attention: columns constrained to n / m as well");
  const Index n = 48, m = 32, d = 16;
  const MatrixD q = demo.gaussian(n, d), k = demo.gaussian(m, d), v = demo.gaussian(m, 8);
  MatrixD p;
  const MatrixD sdpa = at::forward(q, k, v, 0, {}, 0, &p);
  const at::TwoSided<double> one = at::sinkhorn(q, k, v, 0, {}, 1);
  demo.claim("1 normalization vs SDPA, weights", max_diff(one.weights, p),
             max_diff(one.weights, p) < 1e-14, "max|d|");
  std::printf("  %-16s %18s %22s\n", "normalizations", "column error", "max|P - P_sdpa|");
  double previous = kInf;
  bool decreasing = true;
  for (int count : {1, 3, 5, 11, 21, 41}) {
    const at::TwoSided<double> r = at::sinkhorn(q, k, v, 0, {}, count);
    std::printf("  %-16d %18.3e %22.3e\n", count, r.column_error, max_diff(r.weights, p));
    decreasing = decreasing && r.column_error < previous;
    previous = r.column_error;
  }
  const at::TwoSided<double> full = at::sinkhorn(q, k, v, 0, {}, 0);
  std::printf("  %-16s %18.3e %22.3e\n", "converged", full.column_error, max_diff(full.weights, p));
  demo.claim("column error after the last row pass, 41 normalizations (decreasing)", previous,
             decreasing, "");
  demo.claim("column error at convergence (solver tolerance 1e-9 x mass)", full.column_error,
             full.status == Status::Converged && full.column_error < 1e-8 * n, "");
}

}  // namespace

void add_demo_command(CLI::App& app, Runner& run) {
  CLI::App* demo = app.add_subcommand("demo", "Reproduce results, claim by claim");
  demo->require_subcommand(1);
  auto seed = std::make_shared<unsigned>(2025);
  CLI::App* sdpa = demo->add_subcommand(
      "sdpa",
      "Scaled-dot-product attention as one-sided entropic OT (exit 0 when every claim holds)");
  sdpa->add_option("--seed", *seed, "random seed")->capture_default_str();
  sdpa->callback([seed, &run] {
    run = [seed] {
      Demo d(*seed);
      std::printf(
          "eot demo sdpa: scaled-dot-product attention as one-sided entropic OT (seed %u)\n",
          *seed);
      forward_claims(d);
      backward_claims(d);
      geometry_claims(d);
      policy_gradient_claims(d);
      temperature_claims(d);
      two_sided_claims(d);
      std::printf("\n%s\n", d.failures() ? "Some claims FAIL (see above)." : "Every claim holds.");
      return d.failures() ? int(kInternal) : int(kConverged);
    };
  });
}

}  // namespace eot::cli
