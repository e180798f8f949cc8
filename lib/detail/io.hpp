// The matrix readers of lib/io.cpp, on bytes already in memory (the fuzz harnesses use them
// directly). `name` is the file name that starts every error message.
#pragma once

#include <istream>
#include <string>
#include <string_view>

#include "eot/io.hpp"

namespace eot::io::detail {

// Text (.csv, .txt) read from `in` to its end. Throws IoError.
Matrix<double> parse_text(const std::string& name, std::istream& in);
// A whole .npy file, of 1 to 3 dimensions. Throws IoError.
Array parse_npy(const std::string& name, std::string_view bytes);

}  // namespace eot::io::detail
