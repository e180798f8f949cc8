// Reading and writing matrices and vectors; the format follows the file name's extension.
//
// .npy: NumPy arrays, little-endian float64 or float32, C or Fortran order, 1-D (read as a
// column), 2-D, or 3-D (read_array only: a stack of matrices, e.g. a batch of problems). Written
// as float64, C order; a vector as a 1-D array.
// .npz (written only): a zip archive of .npy arrays, stored uncompressed, as numpy.savez writes;
// an array without a name is arr_0.
// .csv, .txt: one matrix row per line, numbers separated by commas and/or white space,
// '#' starts a comment line, blank lines are skipped; inf, -inf and nan are read as such
// (whether they are allowed is for the caller to check). Output uses 17 significant digits,
// so a double round-trips exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "eot/types.hpp"

namespace eot::io {

// An array of 1 to 3 dimensions (`shape`), its entries in C order in `values`, whose columns are
// the last dimension: a 3-D array of shape (B, n, d) is B layers of n x d stacked, (B n) x d; a
// 1-D array is a column. A text file is a 2-D array.
struct Array {
  std::vector<Index> shape;
  Matrix<double> values;
  Index layers() const { return shape.size() == 3 ? shape[0] : 1; }
  // Layer k (the whole array when it has fewer than 3 dimensions).
  auto layer(Index k) const {
    const Index rows = values.rows() / layers();
    return values.middleRows(k * rows, rows);
  }
};

// Throws IoError naming the file and the line and column of the problem, or, before reading,
// if the file cannot fit in memory_budget(memory_limit) (see eot/memory.hpp).
Array read_array(const std::string& path, std::uint64_t memory_limit = 0);
// The same, refusing a 3-D array.
Matrix<double> read_matrix(const std::string& path, std::uint64_t memory_limit = 0);
// A matrix with one column or one row, as a vector.
Vector<double> read_vector(const std::string& path);

// Rows [rows part / parts, rows (part + 1) / parts) of a 1-D or 2-D array of `rows` rows: one
// process's block of a problem split over `parts` (eot/distributed.hpp). A .npy file in C order
// is read there only (its header, then one seek); other files are read whole, then cut.
struct RowBlock {
  Matrix<double> values;
  Index begin = 0, rows = 0;  // the block's first row, and the whole array's rows
};
// Throws IoError as read_array, and for a 3-D array or fewer rows than parts.
RowBlock read_row_block(const std::string& path, int part, int parts,
                        std::uint64_t memory_limit = 0);

// Both are written to a temporary file in the same folder, then renamed over `path`: a failure
// never leaves a partial file nor damages an existing one. Throws OutputError.
void write_matrix(const std::string& path, const Eigen::Ref<const Matrix<double>>& matrix);
void write_vector(const std::string& path, const Eigen::Ref<const Vector<double>>& vector);
// Any text (e.g. a CSV table with a header), written the same atomic way.
void write_text(const std::string& path, const std::string& text);

// An array to write under a name (in an .npz archive): `data` holds its entries in C order.
struct NamedArray {
  std::string name;
  const double* data;
  std::vector<Index> shape;
};

// Several outputs that land together or not at all: each write_* writes its temporary at once;
// commit() then replaces the destinations (after a failure, the ones already replaced stay).
// Destroyed without commit(), the temporaries are removed and no destination is touched.
class OutputBatch {
 public:
  OutputBatch() = default;
  OutputBatch(const OutputBatch&) = delete;
  OutputBatch& operator=(const OutputBatch&) = delete;
  ~OutputBatch();
  void write_matrix(const std::string& path, const Eigen::Ref<const Matrix<double>>& matrix);
  void write_vector(const std::string& path, const Eigen::Ref<const Vector<double>>& vector);
  // Any of 1 to 3 dimensions; 3 only to a .npy file (IoError otherwise).
  void write_array(const std::string& path, const Array& array);
  // Several arrays: to .npz, each under its name (numpy.load(path)["f"]); to any other format,
  // their entries one after the other as one vector.
  void write_named(const std::string& path, const std::vector<NamedArray>& arrays);
  void write_text(const std::string& path, const std::string& text);
  // A file another program writes: produce(temporary) writes the temporary (named with the
  // destination's extension) and returns true, or false if it failed (OutputError).
  void write_with(const std::string& path, const std::function<bool(const std::string&)>& produce);
  // Throws OutputError naming the file that could not be replaced.
  void commit();

  struct Staged {
    std::string temporary, path, requested;
    std::string held;  // the standard output's content (path "-"), written at commit()
  };

 private:
  std::vector<Staged> staged_;
};

// True if `path` names an .npz archive (arrays by name).
bool is_archive(const std::string& path);

// What a command will write, named by its option (e.g. "--plan"); `array`: a matrix or
// vector file, whose name must end in .csv, .txt or .npy.
struct OutputPath {
  std::string option, path;
  bool array = true;
  // "-" (the standard output, as text) is allowed for one output, when the command can print
  // its report elsewhere.
  bool may_be_standard_output = false;
};
// Checks, before any work, that the outputs can be written: a known extension, an existing
// folder, no two outputs the same file, no output that is also one of `inputs`, at most one
// output "-" (where allowed), and no more
// than one input "-" (the standard input). Throws InvalidArgument naming the option and the
// file. Empty paths are skipped.
void check_outputs(const std::vector<OutputPath>& outputs, const std::vector<std::string>& inputs);

// Stops every write of this process for good: the temporaries of writes under way are removed,
// and no write (under way or later) replaces its destination; they throw IoError instead. For
// a program that must end now (a signal) with nothing written. Safe from any thread.
void cancel_writes();

}  // namespace eot::io
