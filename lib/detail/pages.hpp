// Memory for a large array that is read through again and again (a stored kernel, eot bench's
// read floor): aligned to 2 MB and offered to Linux's transparent huge pages (its "madvise"
// mode), so that first touching it costs few page faults and reading it few TLB misses.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <new>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace eot::detail {

inline constexpr std::size_t kHugePage = std::size_t(1) << 21;

// `size` bytes as allocate_pages() takes them: as they are under 2 MB, else whole 2 MB pages.
inline double pages_size(double size) {
  const double huge = double(kHugePage);
  return size < huge ? size : std::ceil(size / huge) * huge;
}

// Under 2 MB: aligned to a cache line. From 2 MB: `size` must be a multiple of kHugePage.
// Throws std::bad_alloc; release with std::free.
inline void* allocate_pages(std::size_t size) {
  void* memory = std::aligned_alloc(size < kHugePage ? 64 : kHugePage, size);
  if (!memory) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (size >= kHugePage) madvise(memory, size, MADV_HUGEPAGE);
#endif
  return memory;
}

}  // namespace eot::detail
