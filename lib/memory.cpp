#include "eot/memory.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "eot/error.hpp"

namespace eot {

std::uint64_t available_memory() {
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    std::uint64_t kib = 0;
    if (key == "MemAvailable:" && meminfo >> kib) return kib * 1024;
    meminfo.ignore(256, '\n');
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? std::uint64_t(pages) * std::uint64_t(page) : 0;
}

void require_dense_fits(Index rows, Index cols, std::size_t bytes_per_entry,
                        const std::string& what, const std::string& advice) {
  const double needed = double(rows) * double(cols) * double(bytes_per_entry);
  const double available = double(available_memory());
  if (available == 0 || needed <= available) return;
  char sizes[128];
  std::snprintf(sizes, sizeof sizes, " needs %.3g GB but %.3g GB of memory is available; ",
                needed / 1e9, available / 1e9);
  throw InvalidArgument(what + " (" + std::to_string(rows) + " x " + std::to_string(cols) + ")" +
                        sizes + advice);
}

}  // namespace eot
