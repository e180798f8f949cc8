// The matrix readers of lib/io.cpp, on bytes already in memory (the fuzz harnesses use them
// directly). `name` is the file name that starts every error message.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <string_view>

#include "eot/io.hpp"

namespace eot::io::detail {

// Text (.csv, .txt) read from `in` to its end. Values that would take more than `budget` bytes
// (0: no limit) are refused, naming `limit` if that is what set the budget: a seekable stream is
// read twice (the shape first, then the values straight into the matrix, its size known before
// it is allocated), another once, refused as soon as it outgrows the budget. Throws IoError.
Matrix<double> parse_text(const std::string& name, std::istream& in, double budget = 0,
                          std::uint64_t limit = 0);
// A whole .npy file, of 1 to 3 dimensions. Throws IoError.
Array parse_npy(const std::string& name, std::string_view bytes);

}  // namespace eot::io::detail
