// The tile loop every geometry kernel runs on.
#pragma once

#include <atomic>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "eot/geometry.hpp"
#include "eot/parallel.hpp"

namespace eot::detail {

inline constexpr Index kTileRows = 64;
inline constexpr Index kTileCols = 256;
// Below this many costs, a pass runs on one thread: waking a team costs more than it saves.
inline constexpr Index kParallelMinimum = Index(1) << 16;

// Sets flush-to-zero and denormals-are-zero for this thread while alive. Kernels meet tiny
// values all the time (exp of a far, scaled cost); denormal arithmetic is about 100x slower and
// adds nothing to sums whose largest term is 1.
class FlushDenormals {
 public:
#if defined(__SSE__)
  FlushDenormals() : saved_(_mm_getcsr()) {
    _mm_setcsr(saved_ | 0x8040);
  }  // FTZ | DAZ
  ~FlushDenormals() {
    _mm_setcsr(saved_);
  }

 private:
  unsigned saved_;
#endif
};

enum class Along { Rows, Cols };

// Calls visit(i0, j0, tile) for every tile of the cost. Along::Rows: blocks of rows are shared
// among threads (parallel_for) and each block's tiles are visited left to right by one thread, so a
// kernel that reduces each row into its own output slot is deterministic. Along::Cols: the same
// with blocks of columns, visited top to bottom. Once `*interrupt` is true the remaining blocks are
// skipped (the pass is then incomplete: the caller must check the flag and drop its output).
template <typename T, typename Visit>
void for_each_tile(const Geometry<T>& geometry, Along along, int threads, Visit&& visit,
                   const std::atomic<bool>* interrupt = nullptr) {
  const Index n = geometry.rows(), m = geometry.cols();
  const bool rows = along == Along::Rows;
  const Index block = rows ? kTileRows : kTileCols, step = rows ? kTileCols : kTileRows;
  const Index outer = rows ? n : m, inner = rows ? m : n;
  const Index blocks = (outer + block - 1) / block;
  parallel_for(blocks, n * m >= kParallelMinimum ? threads : 1, [&](Index k) {
    if (interrupt && interrupt->load(std::memory_order_relaxed)) return;
    const FlushDenormals flush;
    thread_local Matrix<T> scratch;
    const Index o0 = k * block, no = std::min(block, outer - o0);
    for (Index p0 = 0; p0 < inner; p0 += step) {
      const Index np = std::min(step, inner - p0);
      if (rows)
        visit(o0, p0, geometry.tile(o0, p0, no, np, scratch));
      else
        visit(p0, o0, geometry.tile(p0, o0, np, no, scratch));
    }
  });
}

}  // namespace eot::detail
