// Reading and writing matrices and vectors; the format follows the file name's extension.
//
// .npy: NumPy arrays, little-endian float64 or float32, C or Fortran order, 1-D (read as a
// column) or 2-D. Written as float64, C order; a vector as a 1-D array.
// .csv, .txt: one matrix row per line, numbers separated by commas and/or white space,
// '#' starts a comment line, blank lines are skipped; inf, -inf and nan are read as such
// (whether they are allowed is for the caller to check). Output uses 17 significant digits,
// so a double round-trips exactly.
#pragma once

#include <cstdint>
#include <string>

#include "eot/types.hpp"

namespace eot::io {

// Throws IoError naming the file and the line and column of the problem, or, before reading,
// if the file cannot fit in memory_budget(memory_limit) (see eot/memory.hpp).
Matrix<double> read_matrix(const std::string& path, std::uint64_t memory_limit = 0);
// A matrix with one column or one row, as a vector.
Vector<double> read_vector(const std::string& path);

// Both are written to a temporary file in the same folder, then renamed over `path`: a failure
// never leaves a partial file nor damages an existing one. Throws IoError.
void write_matrix(const std::string& path, const Eigen::Ref<const Matrix<double>>& matrix);
void write_vector(const std::string& path, const Eigen::Ref<const Vector<double>>& vector);
// Any text (e.g. a CSV table with a header), written the same atomic way.
void write_text(const std::string& path, const std::string& text);

// Stops every write of this process for good: the temporaries of writes under way are removed,
// and no write (under way or later) replaces its destination; they throw IoError instead. For
// a program that must end now (a signal) with nothing written. Safe from any thread.
void cancel_writes();

}  // namespace eot::io
