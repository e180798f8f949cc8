#include "eot/io.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include "eot/error.hpp"

namespace eot::io {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw IoError(path + ": " + what);
}

// Splits a line into fields separated by commas and/or white space.
std::vector<std::string> split_fields(const std::string& path, const std::string& line,
                                      std::size_t line_number) {
  std::vector<std::string> fields;
  std::string token;
  bool after_comma = false;
  auto where = [&] {
    return "line " + std::to_string(line_number) + ", column " + std::to_string(fields.size() + 1);
  };
  for (char ch : line + '\n') {
    const bool comma = ch == ',', space = ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
    if (!comma && !space) {
      token += ch;
      continue;
    }
    if (!token.empty()) {
      fields.push_back(std::move(token));
      token.clear();
      after_comma = false;
    }
    if (comma) {
      if (after_comma || fields.empty()) fail(path, where() + ": empty field");
      after_comma = true;
    }
  }
  if (after_comma) fail(path, where() + ": empty field after a trailing comma");
  return fields;
}

double parse_number(const std::string& path, const std::string& field, std::size_t line,
                    std::size_t column) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(field.c_str(), &end);
  if (end != field.c_str() + field.size()) {
    fail(path, "line " + std::to_string(line) + ", column " + std::to_string(column) +
                   ": expected a number, got '" + field + "'");
  }
  if (errno == ERANGE && std::abs(value) > 1) {
    fail(path, "line " + std::to_string(line) + ", column " + std::to_string(column) + ": '" +
                   field + "' overflows a double");
  }
  return value;
}

}  // namespace

Matrix<double> read_matrix(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  std::vector<double> values;
  std::size_t cols = 0, rows = 0, first_row_line = 0, line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    const std::size_t start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos || line[start] == '#') continue;
    const std::vector<std::string> fields = split_fields(path, line, line_number);
    if (rows == 0) {
      cols = fields.size();
      first_row_line = line_number;
    } else if (fields.size() != cols) {
      fail(path, "line " + std::to_string(line_number) + " has " + std::to_string(fields.size()) +
                     " values but line " + std::to_string(first_row_line) + " has " +
                     std::to_string(cols));
    }
    for (std::size_t k = 0; k < fields.size(); ++k) {
      values.push_back(parse_number(path, fields[k], line_number, k + 1));
    }
    ++rows;
  }
  if (in.bad()) fail(path, "read error");
  if (rows == 0) fail(path, "no numbers (the file is empty or only has comments)");
  return Eigen::Map<const Matrix<double>>(values.data(), Index(rows), Index(cols));
}

Vector<double> read_vector(const std::string& path) {
  Matrix<double> matrix = read_matrix(path);
  if (matrix.rows() != 1 && matrix.cols() != 1) {
    fail(path, "expected a vector (one column or one row), got a " + std::to_string(matrix.rows()) +
                   " x " + std::to_string(matrix.cols()) + " matrix");
  }
  return Eigen::Map<const Vector<double>>(matrix.data(), matrix.size());
}

void write_matrix(const std::string& path, const Eigen::Ref<const Matrix<double>>& matrix) {
  std::string temporary = path + ".tmp-XXXXXX";
  const int fd = mkstemp(temporary.data());
  if (fd < 0) fail(path, std::string("cannot create a temporary file: ") + std::strerror(errno));
  fchmod(fd, 0644);  // mkstemp makes it 0600; an output file is for others to read too
  FILE* out = fdopen(fd, "w");
  bool ok = out != nullptr;
  for (Index i = 0; ok && i < matrix.rows(); ++i) {
    for (Index j = 0; ok && j < matrix.cols(); ++j) {
      ok = std::fprintf(out, j + 1 < matrix.cols() ? "%.17g," : "%.17g\n", matrix(i, j)) > 0;
    }
  }
  int error = ok ? 0 : errno;
  const bool closed = out != nullptr ? std::fclose(out) == 0 : close(fd) == 0;
  if (!closed && error == 0) error = errno;
  if (error == 0 && std::rename(temporary.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    std::remove(temporary.c_str());
    fail(path, std::string("cannot write: ") + std::strerror(error));
  }
}

}  // namespace eot::io
