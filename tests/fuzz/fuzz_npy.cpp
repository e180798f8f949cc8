// The .npy reader on arbitrary bytes: it returns a non-empty matrix or throws IoError naming
// the file; nothing else (no other exception, no sanitizer report).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "detail/io.hpp"
#include "eot/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const eot::Matrix<double> matrix = eot::io::detail::parse_npy(
        "fuzz.npy", std::string(reinterpret_cast<const char*>(data), size));
    if (matrix.rows() < 1 || matrix.cols() < 1) std::abort();
  } catch (const eot::IoError& error) {
    if (std::string(error.what()).rfind("fuzz.npy: ", 0) != 0) std::abort();
  }
  return 0;
}
