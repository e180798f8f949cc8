// Which copy of the kernels runs: chosen once, from what the CPU supports and EOT_ISA.
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "eot/parallel.hpp"
#include "kernels/kernels.hpp"

namespace eot {

const char* instruction_set() {
#if defined(EOT_KERNELS_NATIVE)
  return "native";  // EOT_NATIVE: one copy, compiled with -march=native
#else
  return kernels::to_string(kernels::active_isa());
#endif
}

}  // namespace eot

namespace eot::kernels {

namespace {

// What this CPU supports; the flags each level is compiled with (CMakeLists.txt) are exactly
// the features checked here.
bool cpu_supports(Isa isa) {
#if defined(EOT_KERNELS_X86_LEVELS)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
  switch (isa) {
    case Isa::Baseline:
      return true;
    case Isa::Avx2:
      return avx2;
    case Isa::Avx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  }
  return false;
#else
  return isa == Isa::Baseline;
#endif
}

Isa choose() {
  Isa best = Isa::Baseline;
  for (Isa isa : {Isa::Avx2, Isa::Avx512})
    if (cpu_supports(isa)) best = isa;
  if (const char* wanted = std::getenv("EOT_ISA")) {
    for (Isa isa : {Isa::Baseline, Isa::Avx2, Isa::Avx512}) {
      if (std::strcmp(wanted, to_string(isa)) == 0 && int(isa) < int(best)) best = isa;
    }
  }
  return best;
}

}  // namespace

const char* to_string(Isa isa) {
  switch (isa) {
    case Isa::Baseline:
      return "baseline";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
  }
  return "unknown";
}

Isa active_isa() {
  static const Isa isa = choose();
  return isa;
}

template <typename T>
const Table<T>* table_for(Isa isa) {
  if (!cpu_supports(isa)) return nullptr;
  constexpr bool f = std::is_same_v<T, float>;
  switch (isa) {
    case Isa::Baseline:
      if constexpr (f)
        return &baseline::float_table();
      else
        return &baseline::double_table();
#if defined(EOT_KERNELS_X86_LEVELS)
    case Isa::Avx2:
      if constexpr (f)
        return &avx2::float_table();
      else
        return &avx2::double_table();
    case Isa::Avx512:
      if constexpr (f)
        return &avx512::float_table();
      else
        return &avx512::double_table();
#endif
    default:
      return nullptr;
  }
}

template <typename T>
const Table<T>& table() {
  static const Table<T>* const chosen = table_for<T>(active_isa());
  return *chosen;
}

template const Table<float>* table_for(Isa);
template const Table<double>* table_for(Isa);
template const Table<float>& table();
template const Table<double>& table();

}  // namespace eot::kernels
