// The kernels of lib/kernels at every instruction set this CPU supports: each against a
// long-double reference written here, and the levels against each other. (ctest also runs the
// whole suite with EOT_ISA=baseline and EOT_ISA=avx2, tests/CMakeLists.txt.)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "eot/parallel.hpp"
#include "helpers.hpp"
#include "kernels/kernels.hpp"

using namespace test;
namespace k = eot::kernels;
using LongVector = std::vector<long double>;

namespace {

template <typename T>
std::vector<const k::Table<T>*> levels() {
  std::vector<const k::Table<T>*> out;
  for (k::Isa isa : {k::Isa::Baseline, k::Isa::Avx2, k::Isa::Avx512})
    if (const k::Table<T>* table = k::table_for<T>(isa)) out.push_back(table);
  return out;
}

// A tile of costs in [0, 1] with a leading dimension wider than the tile, some +inf.
template <typename T>
std::vector<T> costs(Index ni, Index ld, unsigned seed) {
  const MatrixD u = uniform_matrix(ni, ld, seed);
  std::vector<T> c(u.data(), u.data() + u.size());
  c[3] = c[ld + 5] = std::numeric_limits<T>::infinity();
  return c;
}

long double relative(long double got, long double expected) {
  return std::abs(got - expected) / std::max(std::abs(expected), 1e-300L);
}

template <typename T>
void check_log_domain(const k::Table<T>& t, double tolerance) {
  const Index ni = 37, nj = 203, ld = 211;  // off the vector widths
  const std::vector<T> c = costs<T>(ni, ld, 1);
  const MatrixD hr = uniform_matrix(std::max(ni, nj), 1, 2, -3, 3);
  std::vector<T> h(hr.data(), hr.data() + hr.size());
  const T s = T(7.5);
  auto term = [&](Index i, Index j, long double hv) { return hv - s * (long double)c[i * ld + j]; };
  // Two calls (the tile split in two) against the log-sum-exp of all the terms at once.
  std::vector<double> max(ni, -eot::kInf), sum(ni, 0);
  t.lse_rows(c.data(), ld, ni, 100, h.data(), s, max.data(), sum.data());
  t.lse_rows(c.data() + 100, ld, ni, nj - 100, h.data() + 100, s, max.data(), sum.data());
  for (Index i = 0; i < ni; ++i) {
    long double total = 0;
    for (Index j = 0; j < nj; ++j) total += std::exp(term(i, j, h[j]));
    CHECK(relative(max[i] + std::log(sum[i]), std::log(total)) < tolerance);
  }
  std::vector<double> cmax(nj, -eot::kInf), csum(nj, 0);
  t.lse_cols(c.data(), ld, 20, nj, h.data(), s, cmax.data(), csum.data());
  t.lse_cols(c.data() + 20 * ld, ld, ni - 20, nj, h.data() + 20, s, cmax.data(), csum.data());
  for (Index j = 0; j < nj; ++j) {
    long double total = 0;
    for (Index i = 0; i < ni; ++i) total += std::exp(term(i, j, h[i]));
    CHECK(relative(cmax[j] + std::log(csum[j]), std::log(total)) < tolerance);
  }
}

template <typename T>
void check_plan(const k::Table<T>& t, double tolerance) {
  const Index ni = 9, nj = 301, ld = 305;
  const std::vector<T> c = costs<T>(ni, ld, 3);
  const VectorXd alpha = uniform_matrix(ni, 1, 4, -1, 1), beta = uniform_matrix(nj, 1, 5, -1, 1);
  const double s = 20;
  std::vector<T> plan(ni * nj);
  std::vector<double> per_row(ni, 0.5);
  t.plan(c.data(), ld, ni, nj, alpha.data(), beta.data(), s, plan.data(), nj);
  t.transport(c.data(), ld, ni, nj, alpha.data(), beta.data(), s, per_row.data());
  for (Index i = 0; i < ni; ++i) {
    long double cost = 0.5;
    for (Index j = 0; j < nj; ++j) {
      const T cij = c[i * ld + j];
      const long double p =
          std::isinf(cij) ? 0 : std::exp(alpha[i] + beta[j] - s * (long double)cij);
      if (std::isinf(cij))
        CHECK(plan[i * nj + j] == 0);
      else
        CHECK(relative(plan[i * nj + j], p) < tolerance);
      if (!std::isinf(cij)) cost += p * cij;
    }
    CHECK(relative(per_row[i], cost) < tolerance);
  }
}

template <typename T>
void check_products(const k::Table<T>& t, double tolerance) {
  const Index ni = 45, nj = 77, ld = 80;
  const MatrixD kr = uniform_matrix(ni, ld, 6), xr = uniform_matrix(std::max(ni, nj), 1, 7);
  const std::vector<T> kernel(kr.data(), kr.data() + kr.size()),
      x(xr.data(), xr.data() + xr.size());
  std::vector<T> out(nj), out_t(nj);
  t.times(kernel.data(), ld, ni, nj, x.data(), out.data());
  for (Index i = 0; i < ni; ++i) {
    long double dot = 0;
    for (Index j = 0; j < nj; ++j) dot += (long double)kernel[i * ld + j] * x[j];
    CHECK(relative(out[i], dot) < tolerance);
  }
  t.transpose_times(kernel.data(), ld, ni, nj, x.data(), out_t.data());
  for (Index j = 0; j < nj; ++j) {
    long double dot = 0;
    for (Index i = 0; i < ni; ++i) dot += (long double)kernel[i * ld + j] * x[i];
    CHECK(relative(out_t[j], dot) < tolerance);
  }
}

template <typename T>
void check_cloud(const k::Table<T>& t, Index d, double tolerance) {
  const Index ni = 11, nj = 29;
  const MatrixD xr = uniform_matrix(ni, d, 8, -1, 1), yr = uniform_matrix(nj, d, 9, -1, 1);
  const eot::Matrix<T> x = xr.cast<T>(), y = yr.cast<T>(), y_t = y.transpose();
  const eot::Vector<T> x_sq = x.rowwise().squaredNorm(), y_sq = y.rowwise().squaredNorm();
  for (eot::Metric metric : eot::kMetrics) {
    CAPTURE(eot::to_string(metric));
    std::vector<T> out(ni * nj);
    t.cloud_tile(metric, x.data(), y.data(), d <= 8 ? y_t.data() : nullptr, nj, x_sq.data(),
                 y_sq.data(), ni, nj, d, out.data());
    for (Index i = 0; i < ni; ++i) {
      for (Index j = 0; j < nj; ++j) {
        const long double expected = test::reference_cost(metric, x.row(i), y.row(j));
        CHECK(std::abs(out[i * nj + j] - expected) < tolerance * d);
      }
    }
  }
}

}  // namespace

TEST_CASE("every instruction set's kernels match long-double references") {
  CHECK(levels<double>().size() >= 1);
  CHECK(std::string(eot::instruction_set()) == k::to_string(k::active_isa()));
  for (const k::Table<double>* t : levels<double>()) {
    CAPTURE(std::string(k::to_string(t->isa)));
    check_log_domain(*t, 1e-14);
    check_plan(*t, 1e-14);
    check_products(*t, 1e-14);
    check_cloud(*t, 3, 1e-14);
    check_cloud(*t, 12, 1e-14);
  }
  for (const k::Table<float>* t : levels<float>()) {
    CAPTURE(std::string(k::to_string(t->isa)));
    check_log_domain(*t, 2e-6);
    check_plan(*t, 1e-6);  // computed in double, stored in float
    check_products(*t, 1e-6);
    check_cloud(*t, 3, 1e-6);
    check_cloud(*t, 12, 1e-6);
  }
}

TEST_CASE(
    "the log of every instruction set is within 2 ulp, subnormal numbers too, and exact at 0, 1, "
    "inf") {
  for (const k::Table<double>* t : levels<double>()) {
    CAPTURE(std::string(k::to_string(t->isa)));
    VectorXd x(100003);
    for (Index i = 0; i < x.size(); ++i)
      x[i] = std::ldexp(1.0 + double(i % 997) / 997, int(i % 2100) - 1070);
    VectorXd l(x.size());
    t->log(x.data(), l.data(), x.size());
    double worst = 0;
    for (Index i = 0; i < x.size(); ++i) {
      const long double exact = std::log((long double)x[i]);
      const double ulp = std::abs(std::nextafter(double(exact), 1e300) - double(exact));
      worst = std::max(worst, double(std::abs(l[i] - exact) / ulp));
    }
    CHECK(worst <= 2);
    const VectorXd special = (VectorXd(3) << 0.0, 1.0, eot::kInf).finished();
    VectorXd out(3);
    t->log(special.data(), out.data(), 3);
    CHECK(out[0] == -eot::kInf);
    CHECK(out[1] == 0);
    CHECK(out[2] == eot::kInf);
  }
}

TEST_CASE("the exp of every instruction set is within 4 ulp") {
  for (const k::Table<double>* t : levels<double>()) {
    CAPTURE(std::string(k::to_string(t->isa)));
    const VectorXd z = VectorXd::LinSpaced(100003, -708, 0);
    VectorXd e(z.size());
    t->exp(z.data(), e.data(), z.size());
    double worst = 0;
    for (Index i = 0; i < z.size(); ++i) {
      const long double exact = std::exp((long double)z[i]);
      const double ulp = std::nextafter(double(exact), 1e300) - double(exact);
      worst = std::max(worst, double(std::abs(e[i] - exact) / ulp));
    }
    CHECK(worst <= 4);
  }
}

TEST_CASE("attention kernels agree across instruction sets") {
  const Index n = 150, m = 270, d = 16, dv = 7;
  const MatrixD q = uniform_matrix(n, d, 11, -1, 1), kk = uniform_matrix(m, d, 12, -1, 1),
                v = uniform_matrix(m, dv, 13, -1, 1), d_out = uniform_matrix(n, dv, 14, -1, 1);
  std::vector<unsigned char> padding(m, 0);
  padding[4] = 1;
  const k::Head<double> head{
      q.data(), kk.data(), v.data(), n, m, d, dv, 0.25, {nullptr, 0, padding.data(), true}};
  struct Out {
    MatrixD o, p, dq, dk, dv;
  };
  std::vector<Out> outs;
  for (const k::Table<double>* t : levels<double>()) {
    Out r{MatrixD(n, dv), MatrixD(n, m), MatrixD(n, d), MatrixD(m, d), MatrixD(m, dv)};
    VectorXd max(n), sum(n), lse(n);
    for (Index i0 = 0; i0 < n; i0 += 128) {
      const Index ni = std::min<Index>(128, n - i0);
      t->attention_forward(head, i0, ni, r.o.data() + i0 * dv, max.data() + i0, sum.data() + i0);
      t->attention_weights(head, i0, ni, max.data() + i0, sum.data() + i0, r.p.data() + i0 * m);
    }
    lse = max.array() + sum.array().log();
    t->attention_backward(head, d_out.data(), r.o.data(), lse.data(), r.dq.data(), r.dk.data(),
                          r.dv.data());
    // The weights are a softmax of the visible keys: rows sum to 1, O = P V.
    CHECK((r.p.rowwise().sum().array() - 1).abs().maxCoeff() < 1e-14);
    CHECK(max_abs_diff(r.o, r.p * v) < 1e-14);
    CHECK(r.p.col(4).isZero(0));  // padding
    CHECK(r.p(0, 1) == 0);        // causal
    outs.push_back(r);
  }
  for (std::size_t l = 1; l < outs.size(); ++l) {
    CHECK(max_abs_diff(outs[l].o, outs[0].o) < 1e-14);
    CHECK(max_abs_diff(outs[l].p, outs[0].p) < 1e-14);
    CHECK(max_abs_diff(outs[l].dq, outs[0].dq) < 1e-13);
    CHECK(max_abs_diff(outs[l].dk, outs[0].dk) < 1e-13);
    CHECK(max_abs_diff(outs[l].dv, outs[0].dv) < 1e-13);
  }
}

TEST_CASE("parallel_for runs every task once, nests, and passes exceptions on") {
  for (int threads : {1, 2, 5}) {
    std::vector<int> hits(1000, 0), nested(1000, 0);
    eot::parallel_for(1000, threads, [&](Index k) {
      ++hits[k];
      if (k % 100 == 0) {  // nested: runs on this thread
        std::vector<int> inner(10, 0);
        eot::parallel_for(10, threads, [&](Index j) { ++inner[j]; });
        nested[k] = int(std::count(inner.begin(), inner.end(), 1));
      }
    });
    CHECK(std::count(hits.begin(), hits.end(), 1) == 1000);
    CHECK(std::count(nested.begin(), nested.end(), 10) == 10);
    CHECK_THROWS_AS(eot::parallel_for(50, threads,
                                      [](Index k) {
                                        if (k == 17) throw eot::InvalidArgument("task 17");
                                      }),
                    eot::InvalidArgument);
  }
  CHECK(eot::thread_count(0) >= 1);
  CHECK(eot::thread_count(3) == 3);
  CHECK(contains(message_of<eot::InvalidArgument>([] { eot::thread_count(-3); }),
                 "threads is -3: it must be in [0, 1024]"));
  CHECK_THROWS_AS(eot::check_threads(eot::kMaxThreads + 1), eot::InvalidArgument);
}
