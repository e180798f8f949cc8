// The .npy reader on arbitrary bytes: it returns a non-empty array of 1 to 3 dimensions whose
// shape matches its values, or throws IoError naming the file; nothing else (no other
// exception, no sanitizer report).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "detail/io.hpp"
#include "eot/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const eot::io::Array array = eot::io::detail::parse_npy(
        "fuzz.npy", std::string(reinterpret_cast<const char*>(data), size));
    if (array.shape.empty() || array.shape.size() > 3) std::abort();
    eot::Index count = 1;
    for (eot::Index dim : array.shape) count *= dim;
    if (count < 1 || array.values.size() != count ||
        array.values.cols() != (array.shape.size() == 1 ? 1 : array.shape.back()))
      std::abort();
  } catch (const eot::IoError& error) {
    if (std::string(error.what()).rfind("fuzz.npy: ", 0) != 0) std::abort();
  }
  return 0;
}
