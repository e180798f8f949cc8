// The kernel-domain form of Sinkhorn's two log-sum-exp passes, stabilized by absorption
// (Schmitzer 2019, "Stabilized sparse scaling algorithms"). The solver keeps its potentials and
// its log-domain update rule; only where the LSEs come from changes. A stored kernel
//
//   K_ij = exp(alpha_i + beta_j + (fbar_i + gbar_j - C_ij) / epsilon),
//
// with alpha_i = log a_i (0 where a_i = 0), beta_j likewise, is the plan at the absorbed
// potentials (fbar, gbar), up to the zero weights. Then, for any g,
//
//   LSE_j [log b_j + (g_j - C_ij) / epsilon]
//     = log sum_j K_ij [b_j > 0] exp((g_j - gbar_j) / epsilon) - alpha_i - fbar_i / epsilon,
//
// a matrix-vector product instead of n m exps, and the same down the columns. The scalings
// exp((g - gbar) / epsilon) stay within exp(+-kReach) or the kernel is absorbed again at the
// current potentials: entries that underflowed in K (below e^-708 in double, e^-87 in float)
// then stay negligible next to the row sums, which are near 1 at the absorbed potentials.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "detail/pages.hpp"
#include "detail/tiles.hpp"
#include "eot/geometry.hpp"
#include "kernels/kernels.hpp"

namespace eot::detail {

template <typename T>
class KernelDomain {
 public:
  // How far (in units of epsilon) the potentials may move from the absorbed ones.
  static constexpr double kReach = std::is_same_v<T, float> ? 20 : 200;

  KernelDomain(const Geometry<T>& geometry, const Eigen::VectorXd& a, const Eigen::VectorXd& b,
               int threads, const std::atomic<bool>* interrupt)
      : geometry_(geometry),
        log_a_((a.array() > 0).select(a.array().log(), 0.0)),
        log_b_((b.array() > 0).select(b.array().log(), 0.0)),
        has_a_((a.array() > 0).cast<double>()),
        has_b_((b.array() > 0).cast<double>()),
        threads_(threads),
        interrupt_(interrupt),
        n_(geometry.rows()),
        m_(geometry.cols()),
        ld_(padded(m_)) {}

  // K at the potentials (f, g) and this epsilon: one exp per cost. False if an entry is not
  // finite (potentials far from consistent) or the pass was interrupted; the kernel is then
  // unusable until absorbed again.
  bool absorb(const Eigen::VectorXd& f, const Eigen::VectorXd& g, double epsilon) {
    ++absorptions_;
    epsilon_ = epsilon;
    f_bar_ = f;
    g_bar_ = g;
    if (!kernel_) allocate();
    geometry_.plan_into(log_a_ + f / epsilon, log_b_ + g / epsilon, epsilon, kernel_.get(), ld_,
                        threads_, interrupt_);
    const bool interrupted = interrupt_ && interrupt_->load(std::memory_order_relaxed);
    valid_ = !interrupted && kernel().allFinite();
    return valid_;
  }

  // out_i = LSE_j [log b_j + (g_j - C_ij) / epsilon] for the epsilon of the last absorption.
  // False if the kernel cannot give it: not absorbed or not valid, g too far from gbar, or a
  // row of positive weight came out empty (underflow). A row of zero weight may come out
  // -inf where the log domain has a finite value; its potential never matters.
  bool lse_rows(const Eigen::VectorXd& g, Eigen::VectorXd& out) const {
    return lse(g, g_bar_, has_b_, log_a_, f_bar_, has_a_, true, out);
  }
  // out_j = LSE_i [log a_i + (f_i - C_ij) / epsilon].
  bool lse_cols(const Eigen::VectorXd& f, Eigen::VectorXd& out) const {
    return lse(f, f_bar_, has_a_, log_b_, g_bar_, has_b_, false, out);
  }

  int absorptions() const { return absorptions_; }

  // The memory K takes for an n x m problem: rows padded to a cache line and, from 2 MB on,
  // the whole rounded up to 2 MB (allocate()).
  static double bytes(Index n, Index m) {
    const double size = double(n) * double(padded(m)) * sizeof(T);
    return pages_size(size);
  }

 private:
  bool lse(const Eigen::VectorXd& h, const Eigen::VectorXd& h_bar, const Eigen::VectorXd& has_h,
           const Eigen::VectorXd& log_w, const Eigen::VectorXd& bar, const Eigen::VectorXd& has_w,
           bool rows, Eigen::VectorXd& out) const {
    if (!valid_) return false;
    const kernels::Table<double>& math = kernels::table<double>();  // exp and log at full width
    scaling_ = (h - h_bar) / epsilon_;
    if (!(scaling_.cwiseAbs().maxCoeff() <= kReach)) return false;
    math.exp(scaling_.data(), scaling_.data(), scaling_.size());
    x_ = has_h.cwiseProduct(scaling_).template cast<T>();
    product_.resize(rows ? n_ : m_);
    if (rows)
      times(x_, product_);
    else
      transpose_times(x_, product_);
    sums_ = product_.template cast<double>();
    out.resize(sums_.size());
    math.log(sums_.data(), out.data(), sums_.size());
    out.array() -= log_w.array() + bar.array() / epsilon_;
    // Finite, or empty where the weight is 0. Empty where it is positive means underflow (the
    // problem was validated: such a row has an admissible pair), +inf overflow.
    return (out.array().isFinite() || (out.array() == -kInf && has_w.array() == 0)).all();
  }

  // K's memory, once (the solver checked that it fits): aligned to 2 MB (64 bytes when
  // smaller), so that every row starts on a cache line (m is rounded up to a multiple of 64
  // bytes: a vector load that straddles two lines costs twice as much) and the system can back K
  // with transparent huge pages where it offers them on request (Linux's "madvise" mode), since
  // first touching n m values page by page costs more here than computing them (a 32 MB kernel:
  // 8000 page faults, about 60 ms on this VM). A smaller K takes the thread's spare block (see
  // SpareBlock) when it is free.
  void allocate() {
    const std::size_t size = std::size_t(bytes(n_, m_));
    SpareBlock& spare = spare_block();
    if (size < kHugePage && !spare.taken) {
      if (spare.size < size) {
        std::free(spare.memory);
        spare.memory = std::aligned_alloc(64, size);
        spare.size = spare.memory ? size : 0;
        if (!spare.memory) throw std::bad_alloc();
      }
      spare.taken = true;
      kernel_ =
          std::unique_ptr<T[], void (*)(void*)>(static_cast<T*>(spare.memory), &release_spare);
      return;
    }
    kernel_.reset(static_cast<T*>(allocate_pages(size)));
  }

  // One block of memory per thread for kernels under 2 MB, kept from one solve to the next: a
  // batch of small solves would otherwise hand K's pages back to the system after each solve
  // and fault them in again (a third of the time of a 64 x 64 solve). A solve started while the
  // block is taken (from a callback) allocates its own. A KernelDomain lives within one solve,
  // on one thread: the thread that takes the block gives it back.
  struct SpareBlock {
    void* memory = nullptr;
    std::size_t size = 0;
    bool taken = false;
    ~SpareBlock() { std::free(memory); }
  };
  static SpareBlock& spare_block() {
    static thread_local SpareBlock spare;
    return spare;
  }
  static void release_spare(void*) noexcept { spare_block().taken = false; }

  Eigen::Map<const Matrix<T>, 0, Eigen::OuterStride<>> kernel() const {
    return {kernel_.get(), n_, m_, Eigen::OuterStride<>(ld_)};
  }

  // out = K x: blocks of rows shared among threads, each entry summed by one thread.
  void times(const Vector<T>& x, Vector<T>& out) const {
    blocks(n_, kTileCols, [&](Index i0, Index ni) {
      kernels::table<T>().times(kernel_.get() + i0 * ld_, ld_, ni, m_, x.data(), out.data() + i0);
    });
  }
  // out = K^T x: kChunks fixed bands of rows, each streamed whole (rows are contiguous) into a
  // partial sum, then the partial sums added in order: the same result on any thread count.
  void transpose_times(const Vector<T>& x, Vector<T>& out) const {
    const Index band = (n_ + kChunks - 1) / kChunks;
    partial_.resize(kChunks, m_);
    blocks(kChunks * band, band, [&](Index start, Index) {
      const Index i0 = std::min(start, n_), ni = std::min(band, n_ - i0);
      kernels::table<T>().transpose_times(kernel_.get() + i0 * ld_, ld_, ni, m_, x.data() + i0,
                                          partial_.row(start / band).data());
    });
    out = partial_.colwise().sum().transpose();
  }

  // visit(start, length) for consecutive blocks of `size`, shared among threads.
  template <typename Visit>
  void blocks(Index size, Index block, Visit&& visit) const {
    const Index count = (size + block - 1) / block;
    parallel_for(count, n_ * m_ >= kParallelMinimum ? threads_ : 1, [&](Index k) {
      if (interrupt_ && interrupt_->load(std::memory_order_relaxed)) return;
      const FlushDenormals flush;
      visit(k * block, std::min(block, size - k * block));
    });
  }

  static constexpr Index kChunks = 8;
  // Entries per row of K: m, rounded up to whole cache lines.
  static Index padded(Index m) { return (m * Index(sizeof(T)) + 63) / 64 * 64 / Index(sizeof(T)); }
  const Geometry<T>& geometry_;
  const Eigen::VectorXd log_a_, log_b_, has_a_, has_b_;
  const int threads_;
  const std::atomic<bool>* interrupt_;
  // K, n x m with rows ld apart (a multiple of 64 bytes); null until the first absorption.
  const Index n_, m_, ld_;
  std::unique_ptr<T[], void (*)(void*)> kernel_{nullptr, &std::free};
  mutable Matrix<T> partial_;               // kChunks partial sums of K^T x
  mutable Eigen::VectorXd scaling_, sums_;  // lse()'s work: the same sizes at every call
  mutable Vector<T> x_, product_;
  Eigen::VectorXd f_bar_, g_bar_;
  double epsilon_ = 0;
  bool valid_ = false;
  int absorptions_ = 0;
};

}  // namespace eot::detail
