#include "eot/memory.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "eot/error.hpp"

namespace eot {

namespace {

// The number in a cgroup file, or 0 if it is absent or says "max".
std::uint64_t cgroup_value(const char* path) {
  std::ifstream file(path);
  std::uint64_t value = 0;
  return file >> value ? value : 0;
}

}  // namespace

std::uint64_t available_memory() {
  std::uint64_t available = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    std::uint64_t kib = 0;
    if (key == "MemAvailable:" && meminfo >> kib) {
      available = kib * 1024;
      break;
    }
    meminfo.ignore(256, '\n');
  }
  if (available == 0) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0) available = std::uint64_t(pages) * std::uint64_t(page);
  }
  if (const std::uint64_t max = cgroup_value("/sys/fs/cgroup/memory.max"); max > 0) {
    // In use: memory.current less the page cache the container can drop (inactive files).
    std::uint64_t used = cgroup_value("/sys/fs/cgroup/memory.current");
    std::ifstream stat("/sys/fs/cgroup/memory.stat");
    for (std::string key; stat >> key;) {
      std::uint64_t value = 0;
      if (key == "inactive_file" && stat >> value) {
        used -= std::min(used, value);
        break;
      }
      stat.ignore(256, '\n');
    }
    const std::uint64_t room = max > used ? max - used : 1;  // full, yet known: not 0
    available = available > 0 ? std::min(available, room) : room;
  }
  return available;
}

double memory_budget(std::uint64_t limit) {
  const double available = double(available_memory());
  if (limit == 0) return available;
  return available > 0 ? std::min(double(limit), available) : double(limit);
}

std::uint64_t parse_bytes(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  double number = 0;
  std::string suffix;
  const bool parsed = bool(in >> number) && (in >> suffix || in.eof()) && in.eof();
  double scale = 0;
  if (suffix.empty()) scale = 1;
  for (const auto& [unit, factor] : {std::pair{"K", 0x1p10},
                                     {"M", 0x1p20},
                                     {"G", 0x1p30},
                                     {"T", 0x1p40},
                                     {"KB", 0x1p10},
                                     {"MB", 0x1p20},
                                     {"GB", 0x1p30},
                                     {"TB", 0x1p40}}) {
    std::string upper = suffix;
    for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
    if (upper == unit) scale = factor;
  }
  const double bytes = number * scale;
  if (!parsed || scale == 0 || !std::isfinite(bytes) || bytes < 1 || bytes >= 0x1p63) {
    throw InvalidArgument(name + " is '" + text +
                          "': expected a byte count such as 400M, 1.5G or 1000000 "
                          "(suffixes K, M, G, T: powers of 1024)");
  }
  return std::uint64_t(bytes);
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 4) {
    bytes /= 1000;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.3g %s", bytes, units[unit]);
  return text;
}

void require_dense_fits(Index rows, Index cols, double bytes_per_entry, const std::string& what,
                        const std::string& advice, std::uint64_t limit, double in_use) {
  const double needed = double(rows) * double(cols) * bytes_per_entry;
  const double budget = memory_budget(limit);
  if (budget == 0 || in_use + needed <= budget) return;
  std::string room = format_bytes(std::max(0.0, budget - in_use));
  room += limit > 0 && double(limit) <= budget
              ? " are left within the memory limit of " + format_bytes(double(limit))
              : " of memory is available";
  if (in_use > 0) room += " beside the " + format_bytes(in_use) + " already held";
  throw InvalidArgument(what + " (" + std::to_string(rows) + " x " + std::to_string(cols) +
                        ") needs " + format_bytes(needed) + " but " + room + "; " + advice);
}

}  // namespace eot
