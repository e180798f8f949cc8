#include "eot/io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <numeric>
#include <sstream>
#include <string_view>
#include <vector>

#include "detail/io.hpp"
#include "eot/distributed.hpp"
#include "eot/error.hpp"
#include "eot/memory.hpp"

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

// The field as a message may quote it: bytes outside printable ASCII (control characters,
// anything not text) as \xNN.
std::string printable(const std::string& field) {
  std::string out;
  for (unsigned char c : field) {
    if (c >= 0x20 && c < 0x7f) {
      out += char(c);
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", c);
      out += escaped;
    }
  }
  return out;
}

// The next line, ended by \n, \r\n or a lone \r (old Mac files); false at the end.
bool next_line(std::istream& in, std::string& line) {
  line.clear();
  bool any = false;
  for (int c; (c = in.get()) != EOF;) {
    any = true;
    if (c == '\n') return true;
    if (c == '\r') {
      if (in.peek() == '\n') in.get();
      return true;
    }
    line += char(c);
  }
  return any;
}

double parse_number(const std::string& path, const std::string& field, std::size_t line,
                    std::size_t column) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(field.c_str(), &end);
  if (end != field.c_str() + field.size()) {
    fail(path, "line " + std::to_string(line) + ", column " + std::to_string(column) +
                   ": expected a number, got '" + printable(field) + "'");
  }
  if (errno == ERANGE && std::abs(value) > 1) {
    fail(path, "line " + std::to_string(line) + ", column " + std::to_string(column) + ": '" +
                   printable(field) + "' overflows a double");
  }
  return value;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Text

namespace {

// Refuses an input whose values take more than `budget` bytes (0: unknown, no limit).
void require_fits(const std::string& path, double bytes, double budget, std::uint64_t limit,
                  const std::string& when) {
  if (budget <= 0 || bytes <= budget) return;
  fail(path, when + " " + format_bytes(bytes) + " but " +
                 (limit > 0 && double(limit) <= budget
                      ? "the memory limit is " + format_bytes(budget)
                      : format_bytes(budget) + " of memory is available") +
                 "; for costs between points, give the points instead: eot then computes "
                 "the costs on the fly");
}

// The lines of a text matrix that hold numbers, each split into its fields, with the checks
// of the shape: visit(fields, line number, row) for each; returns the rows and columns.
template <typename Visit>
std::pair<std::size_t, std::size_t> scan_text(const std::string& path, std::istream& in,
                                              Visit&& visit) {
  std::size_t cols = 0, rows = 0, first_row_line = 0, line_number = 0;
  bool header = false;
  auto is_number = [](const std::string& field) {
    char* end = nullptr;
    std::strtod(field.c_str(), &end);
    return !field.empty() && end == field.c_str() + field.size();
  };
  for (std::string line; next_line(in, line);) {
    ++line_number;
    if (line_number == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);  // BOM
    const std::size_t start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos || line[start] == '#') continue;
    const std::vector<std::string> fields = split_fields(path, line, line_number);
    // A first line of names only ("x,y", "cost"): a header, skipped.
    if (rows == 0 && !header && std::none_of(fields.begin(), fields.end(), is_number)) {
      header = true;
      continue;
    }
    if (rows == 0) {
      cols = fields.size();
      first_row_line = line_number;
    } else if (fields.size() != cols) {
      fail(path, "line " + std::to_string(line_number) + " has " + std::to_string(fields.size()) +
                     " values but line " + std::to_string(first_row_line) + " has " +
                     std::to_string(cols));
    }
    visit(fields, line_number, rows);
    ++rows;
  }
  if (in.bad()) fail(path, "read error");
  if (rows == 0) {
    fail(path, header ? "no numbers (the file only has a header line)"
                      : "no numbers (the file is empty or only has comments)");
  }
  return {rows, cols};
}

}  // namespace

Matrix<double> detail::parse_text(const std::string& path, std::istream& in, double budget,
                                  std::uint64_t limit) {
  auto parse = [&](const std::vector<std::string>& fields, std::size_t line, std::size_t k) {
    return parse_number(path, fields[k], line, k + 1);
  };
  const std::streampos start = in.tellg();
  if (start != std::streampos(-1)) {
    // Twice: the shape first, so that the values go straight into the matrix (their size
    // checked against the budget before it is allocated).
    const std::pair<std::size_t, std::size_t> shape = scan_text(path, in, [](auto&&...) {});
    const std::size_t rows = shape.first, cols = shape.second;
    require_fits(path, 8.0 * double(rows) * double(cols), budget, limit, "its values take");
    in.clear();
    in.seekg(start);
    Matrix<double> values(static_cast<Index>(rows), static_cast<Index>(cols));
    scan_text(path, in,
              [&](const std::vector<std::string>& fields, std::size_t line, std::size_t row) {
                if (row >= rows || fields.size() != cols) fail(path, "the file changed while read");
                for (std::size_t k = 0; k < cols; ++k)
                  values(Index(row), Index(k)) = parse(fields, line, k);
              });
    return values;
  }
  // A stream without a size (a pipe): read once, refused as soon as it outgrows the budget.
  std::vector<double> values;
  const std::pair<std::size_t, std::size_t> shape = scan_text(
      path, in, [&](const std::vector<std::string>& fields, std::size_t line, std::size_t) {
        for (std::size_t k = 0; k < fields.size(); ++k) values.push_back(parse(fields, line, k));
        require_fits(path, 16.0 * double(values.size()), budget, limit,
                     "by line " + std::to_string(line) + ", its values take");
      });
  return Eigen::Map<const Matrix<double>>(values.data(), Index(shape.first), Index(shape.second));
}

namespace {

bool write_text(FILE* out, const double* data, Index rows, Index cols) {
  for (Index i = 0; i < rows; ++i) {
    for (Index j = 0; j < cols; ++j) {
      if (std::fprintf(out, j + 1 < cols ? "%.17g," : "%.17g\n", data[i * cols + j]) < 0)
        return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// NumPy .npy (format versions 1 to 3; little-endian float64 or float32; C or Fortran order)

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the .npy code assumes a little-endian host");

constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr std::size_t kNpyMaxHeader = 1 << 20;

// The value of 'key' in the header dictionary, as written (e.g. "'<f8'", "False", "(3, 4)").
std::string npy_field(const std::string& path, const std::string& header, const std::string& key) {
  const std::size_t at = header.find("'" + key + "'");
  const std::size_t colon = at == std::string::npos ? at : header.find(':', at);
  if (colon == std::string::npos) fail(path, "the .npy header has no '" + key + "' field");
  std::size_t begin = header.find_first_not_of(' ', colon + 1), end = begin;
  if (begin == std::string::npos || header[begin] == ',' || header[begin] == '}') {
    fail(path, "the .npy header's '" + key + "' field is empty");
  }
  if (header[begin] == '(') {
    end = header.find(')', begin);
    if (end == std::string::npos) fail(path, "the .npy header's shape is not closed");
    ++end;
  } else if (header[begin] == '\'') {
    end = header.find('\'', begin + 1);
    if (end == std::string::npos) fail(path, "the .npy header's '" + key + "' is not closed");
    ++end;
  } else {
    end = header.find_first_of(",}", begin);
  }
  return header.substr(begin, end - begin);
}

std::vector<Index> npy_shape(const std::string& path, const std::string& text) {
  if (text.front() != '(') fail(path, "the .npy shape " + text + " is not a tuple");
  std::vector<Index> shape;
  std::string inner = text.substr(1, text.size() - 2);
  std::size_t pos = 0;
  while (pos < inner.size()) {
    const std::size_t next = std::min(inner.find(',', pos), inner.size());
    std::string item = inner.substr(pos, next - pos);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    pos = next + 1;
    if (item.empty()) continue;
    char* end = nullptr;
    errno = 0;
    const long long dim = std::strtoll(item.c_str(), &end, 10);
    if (*end != '\0' || errno != 0 || dim < 0 || dim > (1LL << 40)) {
      fail(path, "the .npy shape " + text + " has an invalid dimension '" + item + "'");
    }
    shape.push_back(Index(dim));
  }
  return shape;
}

// Where a .npy file's values are and what they are.
struct NpyLayout {
  std::size_t data_offset = 0, item = 0, count = 0;
  char kind = 'f';  // numpy's: 'f' float, 'i' signed integer, 'u' unsigned integer
  bool fortran = false;
  std::vector<Index> shape;
  // The values are stored as Array holds them (float64, C order): copied, not converted.
  bool as_array() const { return kind == 'f' && item == 8 && !fortran; }
};

// The layout the header at the start of `head` describes, for a file of `total` bytes (`head` is
// its start, header included if the file has one), checked against that size.
NpyLayout npy_layout(const std::string& path, std::string_view head, std::size_t total) {
  std::string_view bytes = head;
  if (bytes.size() < 10 || bytes.compare(0, 6, kNpyMagic, 6) != 0) {
    fail(path, "not a .npy file (the magic string \\x93NUMPY is missing)");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3)
    fail(path, "unsupported .npy format version " + std::to_string(major));
  const std::size_t prefix = major == 1 ? 10 : 12;
  if (bytes.size() < prefix) fail(path, "truncated .npy header");
  std::size_t header_length = 0;
  for (std::size_t k = prefix; k-- > 8;)
    header_length = header_length * 256 + static_cast<unsigned char>(bytes[k]);
  if (header_length > kNpyMaxHeader) {
    fail(path, "the .npy header length " + std::to_string(header_length) + " is absurd (at most " +
                   std::to_string(kNpyMaxHeader) + ")");
  }
  if (bytes.size() < prefix + header_length) fail(path, "truncated .npy header");  // head <= total
  const std::string header(bytes.substr(prefix, header_length));

  const std::string descr = npy_field(path, header, "descr");
  const bool fortran = npy_field(path, header, "fortran_order") == "True";
  const std::vector<Index> shape = npy_shape(path, npy_field(path, header, "shape"));
  // Little-endian floats, and integers of any width (read as double, exactly up to 2^53).
  std::size_t item = 0;
  char kind = 0;
  if (descr.size() == 5 && descr.front() == '\'' && descr.back() == '\'' &&
      (descr[1] == '<' || (descr[1] == '|' && descr[3] == '1'))) {
    kind = descr[2];
    item = std::size_t(descr[3] - '0');
    const bool known =
        (kind == 'f' && (item == 4 || item == 8)) ||
        ((kind == 'i' || kind == 'u') && (item == 1 || item == 2 || item == 4 || item == 8));
    if (!known) item = 0;
  }
  if (item == 0) {
    fail(path, "dtype " + descr +
                   " is not supported: expected little-endian float64 ('<f8'), float32 ('<f4') "
                   "or integers ('<i8', '<u4', ...)");
  }
  if (shape.empty() || shape.size() > 3) {
    fail(path, "the array has " + std::to_string(shape.size()) + " dimensions; expected 1, 2 or 3");
  }
  // Checked one dimension at a time, by division: the product may overflow for a forged shape.
  const std::size_t available = total - prefix - header_length;
  std::size_t count = 1;
  for (Index dim : shape) {
    if (dim == 0) fail(path, "the array is empty");
    if (count > available / item / std::size_t(dim)) {
      double needed = double(item);
      for (Index d : shape) needed *= double(d);
      std::ostringstream text;
      text << needed;
      fail(path, "truncated .npy data: the shape " + npy_field(path, header, "shape") + " needs " +
                     text.str() + " bytes, found " + std::to_string(available));
    }
    count *= std::size_t(dim);
  }
  if (available != count * item) {
    fail(path, "the .npy data has " + std::to_string(available) + " bytes; the shape " +
                   npy_field(path, header, "shape") + " needs " + std::to_string(count * item));
  }
  return {prefix + header_length, item, count, kind, fortran, shape};
}

// The array from its values as the file holds them (`data`, count * item bytes).
Array npy_array(const NpyLayout& layout, const char* data) {
  const std::vector<Index>& shape = layout.shape;
  const std::size_t count = layout.count, item = layout.item;
  const bool fortran = layout.fortran;
  const char kind = layout.kind;
  Array array;
  array.shape = shape;
  const Index cols = shape.size() == 1 ? 1 : shape.back();
  array.values.resize(Index(count) / cols, cols);
  double* values = array.values.data();  // C order
  // Entry k of the file is entry `to_c(k)` in C order (the identity unless Fortran order).
  std::vector<std::size_t> c_stride(shape.size(), 1);
  for (std::size_t d = shape.size() - 1; d-- > 0;) c_stride[d] = c_stride[d + 1] * shape[d + 1];
  auto to_c = [&](std::size_t k) {
    if (!fortran) return k;
    std::size_t at = 0;
    for (std::size_t d = 0; d < shape.size(); ++d) {  // Fortran order: the first index is fastest
      at += (k % std::size_t(shape[d])) * c_stride[d];
      k /= std::size_t(shape[d]);
    }
    return at;
  };
  if (layout.as_array()) {
    if (data != nullptr) std::memcpy(values, data, 8 * count);  // null: the caller fills it
    return array;
  }
  // Entry k as a double; x86-64 and the other little-endian targets only (as the format is).
  auto entry = [&](std::size_t k) -> double {
    const char* at = data + item * k;
    auto as = [at](auto value) {
      std::memcpy(&value, at, sizeof value);
      return double(value);
    };
    if (kind == 'f') return item == 8 ? as(double()) : as(float());
    if (kind == 'i') {
      return item == 8   ? as(std::int64_t())
             : item == 4 ? as(std::int32_t())
             : item == 2 ? as(std::int16_t())
                         : as(std::int8_t());
    }
    return item == 8   ? as(std::uint64_t())
           : item == 4 ? as(std::uint32_t())
           : item == 2 ? as(std::uint16_t())
                       : as(std::uint8_t());
  };
  for (std::size_t k = 0; k < count; ++k) values[to_c(k)] = entry(k);
  return array;
}

}  // namespace

Array detail::parse_npy(const std::string& path, std::string_view bytes) {
  const NpyLayout layout = npy_layout(path, bytes, bytes.size());
  return npy_array(layout, bytes.data() + layout.data_offset);
}

namespace {

std::size_t entries(const std::vector<Index>& shape) {
  std::size_t count = 1;
  for (Index dim : shape) count *= std::size_t(dim);
  return count;
}

// The magic string, version 1.0, and the header of a float64 C-order array.
std::string npy_header(const std::vector<Index>& shape) {
  std::string dims;
  for (Index dim : shape) dims += (dims.empty() ? "" : ", ") + std::to_string(dim);
  if (shape.size() == 1) dims += ",";
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + dims + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');  // total length a multiple of 64
  header += '\n';
  const char preamble[10] = {
      '\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, char(header.size() & 0xff), char(header.size() >> 8)};
  return std::string(preamble, 10) + header;
}

bool write_npy(FILE* out, const double* data, const std::vector<Index>& shape) {
  const std::string header = npy_header(shape);
  const std::size_t count = entries(shape);
  return std::fwrite(header.data(), 1, header.size(), out) == header.size() &&
         std::fwrite(data, sizeof(double), count, out) == count;
}

// .npz: a zip archive of .npy files, stored (not compressed), as numpy.savez writes them;
// numpy.load gives each array by its name. Without ZIP64: at most 4 GB.
std::uint32_t crc32(const std::string& bytes) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t k = 0; k < 256; ++k) {
      std::uint32_t c = k;
      for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[k] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) c = table[(c ^ byte) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// Refuses, before writing, an archive beyond what a zip without ZIP64 holds.
void require_npz_fits(const std::string& path, const std::vector<NamedArray>& arrays) {
  double bytes = 0;
  for (const NamedArray& array : arrays) bytes += 8.0 * double(entries(array.shape)) + 300;
  if (bytes > double(0xFFFFFFFFu))
    throw OutputError(path +
                      ": an .npz archive over 4 GB is not written; write .npy files instead");
}

bool write_npz(FILE* out, const std::vector<NamedArray>& arrays) {
  auto put = [](std::string& to, std::uint64_t value, int bytes) {
    for (int k = 0; k < bytes; ++k) to += char((value >> (8 * k)) & 0xff);
  };
  std::string directory;
  std::uint64_t offset = 0;
  for (const NamedArray& array : arrays) {
    const std::string name = array.name + ".npy";
    std::string member = npy_header(array.shape);
    member.append(reinterpret_cast<const char*>(array.data), entries(array.shape) * sizeof(double));
    const std::uint32_t crc = crc32(member);
    // The fields a local header and its central directory entry share: version 2.0, no
    // flags, stored, 1980-01-01 00:00, the CRC, the sizes and the name's length.
    std::string common;
    put(common, 20, 2);
    put(common, 0, 2);
    put(common, 0, 2);
    put(common, 0, 2);
    put(common, 0x21, 2);
    put(common, crc, 4);
    put(common, member.size(), 4);
    put(common, member.size(), 4);
    put(common, name.size(), 2);
    put(common, 0, 2);  // no extra field
    std::string local;
    put(local, 0x04034b50, 4);
    local += common + name;
    put(directory, 0x02014b50, 4);
    put(directory, 20, 2);  // made by version 2.0
    directory += common;
    put(directory, 0, 2 + 2 + 2 + 4);  // no comment; disk 0; no attributes
    put(directory, offset, 4);
    directory += name;
    if (std::fwrite(local.data(), 1, local.size(), out) != local.size() ||
        std::fwrite(member.data(), 1, member.size(), out) != member.size())
      return false;
    offset += local.size() + member.size();
  }
  std::string end;
  put(end, 0x06054b50, 4);
  put(end, 0, 2 + 2);  // this disk, the directory's disk
  put(end, arrays.size(), 2);
  put(end, arrays.size(), 2);
  put(end, directory.size(), 4);
  put(end, offset, 4);
  put(end, 0, 2);  // no comment
  return std::fwrite(directory.data(), 1, directory.size(), out) == directory.size() &&
         std::fwrite(end.data(), 1, end.size(), out) == end.size();
}

// ---------------------------------------------------------------------------------------------

enum class Format { Text, Npy, Npz };

// How messages name a file: "-" is the standard input (or, written, the standard output).
std::string shown(const std::string& path, bool output = false) {
  return path != "-" ? path : output ? "standard output" : "standard input";
}

bool ends_with(const std::string& path, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return path.size() >= n && path.compare(path.size() - n, n, suffix) == 0;
}

Format format_of(const std::string& path) {
  if (path == "-") return Format::Text;  // written to the standard output
  if (ends_with(path, ".npy")) return Format::Npy;
  if (ends_with(path, ".npz")) return Format::Npz;
  if (ends_with(path, ".csv") || ends_with(path, ".txt")) return Format::Text;
  fail(path, "unknown file type; expected a name ending in .csv, .txt or .npy (.npz for outputs)");
}

// The process's umask, read without changing it (Linux), else by setting and restoring it.
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  for (std::string key; status >> key;) {
    if (key == "Umask:") {
      std::string octal;
      status >> octal;
      return mode_t(std::stoul(octal, nullptr, 8));
    }
    status.ignore(4096, '\n');
  }
  const mode_t mask = umask(0);
  umask(mask);
  return mask;
}

constexpr const char* kStopping = "not written: the program is stopping";

// The temporaries of the writes under way, and whether cancel_writes() was called: a write
// renames its temporary only while holding the lock and not cancelled.
struct Writes {
  std::mutex lock;
  std::vector<std::string> partial;
  bool cancelled = false;
};

Writes& writes() {
  static Writes* all = new Writes;  // never destroyed: cancel_writes() may run during exit
  return *all;
}

void forget(const std::string& temporary) {
  Writes& all = writes();
  std::lock_guard<std::mutex> guard(all.lock);
  const auto found = std::find(all.partial.begin(), all.partial.end(), temporary);
  if (found != all.partial.end()) all.partial.erase(found);
}

void discard(const OutputBatch::Staged& staged) {
  if (staged.requested == "-") return;  // held in memory
  std::remove(staged.temporary.c_str());
  forget(staged.temporary);
}

// Writes through `write` into a temporary file in the same folder and flushes it to the disk;
// publish() then renames it over `path`, so that `path` holds either its old content or the
// whole new one. The new file gets the mode of the file it replaces, or 0666 less the umask, as any
// program's output would. A symbolic link at `path` is followed: the file it points to is replaced
// and the link stays. (A file with other hard links is replaced by a new file: those other names
// keep the old content.) The temporary is named .eot-partial-XXXXXX: a crash (SIGKILL, power
// loss) can leave one behind, never a truncated file under the output's name.
// Writes through `write(FILE*)`, or, when `produce` is given, lets it write the temporary by
// its name (whose extension is the destination's).
template <typename Write>
OutputBatch::Staged stage(const std::string& requested, Write&& write,
                          const std::function<bool(const std::string&)>& produce = {}) {
  auto refuse = [&](const std::string& why) {
    throw OutputError(shown(requested, true) + ": " + why);
  };
  if (requested == "-") {  // the standard output: held until commit()
    char* buffer = nullptr;
    std::size_t size = 0;
    FILE* out = open_memstream(&buffer, &size);
    const bool written = out != nullptr && write(out);
    if (out != nullptr) std::fclose(out);
    OutputBatch::Staged staged{"", "-", "-", std::string(buffer ? buffer : "", size)};
    std::free(buffer);
    if (!written) refuse("cannot write");
    return staged;
  }
  std::error_code error_code;
  const std::filesystem::path link(requested);
  const std::string path =
      std::filesystem::is_symlink(link, error_code) && std::filesystem::exists(link, error_code)
          ? std::filesystem::canonical(link, error_code).string()
          : requested;
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  const std::string suffix = produce ? std::filesystem::path(path).extension().string() : "";
  std::string temporary =
      (folder.empty() ? "." : folder.string()) + "/.eot-partial-XXXXXX" + suffix;
  struct stat existing;
  const mode_t mode =
      stat(path.c_str(), &existing) == 0 ? existing.st_mode & 0777 : 0666 & ~current_umask();
  Writes& all = writes();
  int fd = -1;
  {
    std::lock_guard<std::mutex> guard(all.lock);
    if (all.cancelled) refuse(kStopping);
    fd = mkstemps(temporary.data(), int(suffix.size()));
    if (fd >= 0) all.partial.push_back(temporary);
  }
  if (fd < 0) refuse(std::string("cannot create a file there: ") + std::strerror(errno));
  fchmod(fd, mode);
  if (produce) {
    close(fd);
    OutputBatch::Staged staged{temporary, path, requested, {}};
    if (!produce(temporary)) {
      discard(staged);
      refuse("could not be written");
    }
    return staged;
  }
  FILE* out = fdopen(fd, "wb");
  int error = out != nullptr && write(out) ? 0 : errno ? errno : EIO;
  if (error == 0 && (std::fflush(out) != 0 || fsync(fd) != 0)) error = errno;
  const bool closed = out != nullptr ? std::fclose(out) == 0 : close(fd) == 0;
  if (!closed && error == 0) error = errno;
  OutputBatch::Staged staged{temporary, path, requested, {}};
  if (error != 0) {
    discard(staged);
    refuse(std::string("cannot write: ") + std::strerror(error));
  }
  return staged;
}

// Renames a staged output over its destination, unless writes were cancelled, and syncs the
// folder (the rename reaches the disk with it).
void publish(const OutputBatch::Staged& staged) {
  Writes& all = writes();
  int error = 0;
  {
    std::lock_guard<std::mutex> guard(all.lock);
    if (all.cancelled) error = ECANCELED;
    if (error == 0 && staged.requested != "-" &&
        std::rename(staged.temporary.c_str(), staged.path.c_str()) != 0)
      error = errno;
  }
  // The standard output outside the lock: a full pipe may block the write, and cancel_writes()
  // must not wait for it.
  if (error == 0 && staged.requested == "-" &&
      (std::fwrite(staged.held.data(), 1, staged.held.size(), stdout) != staged.held.size() ||
       std::fflush(stdout) != 0))
    error = errno ? errno : EIO;
  if (error != 0) {
    discard(staged);
    throw OutputError(shown(staged.requested, true) + ": " +
                      (error == ECANCELED ? std::string(kStopping)
                                          : "cannot write: " + std::string(std::strerror(error))));
  }
  if (staged.requested == "-") return;
  forget(staged.temporary);
  const std::filesystem::path folder = std::filesystem::path(staged.path).parent_path();
  const int dir = open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
}

// An array file staged at `path`, in the format its extension names (text: 1 or 2 dimensions,
// a vector one value a line; .npz: one array, named arr_0 as numpy.savez names it).
OutputBatch::Staged stage_array(const std::string& path, const double* data,
                                const std::vector<Index>& shape) {
  const Format format = format_of(path);
  if (format == Format::Text && shape.size() > 2) {
    fail(path,
         "a " + std::to_string(shape.size()) + "-dimensional array can only be written as .npy");
  }
  const Index rows = shape[0], cols = shape.size() == 1 ? 1 : shape[1];
  if (format == Format::Npz) require_npz_fits(path, {{"arr_0", data, shape}});
  return stage(path, [&](FILE* out) {
    switch (format) {
      case Format::Npy:
        return write_npy(out, data, shape);
      case Format::Npz:
        return write_npz(out, {{"arr_0", data, shape}});
      case Format::Text:
        break;
    }
    return write_text(out, data, rows, cols);
  });
}

OutputBatch::Staged stage_text(const std::string& path, const std::string& text) {
  return stage(path, [&](FILE* out) {
    return std::fwrite(text.data(), 1, text.size(), out) == text.size();
  });
}

}  // namespace

Array read_array(const std::string& path, std::uint64_t memory_limit) {
  // "-" is the standard input: a .npy array if it starts with NumPy's magic string, else text;
  // read as the file or the pipe it is.
  const bool standard_input = path == "-";
  const std::string file = standard_input ? "/dev/stdin" : path;
  const std::string name = shown(path);
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(name, std::string("cannot open: ") + std::strerror(errno));
  if (!standard_input && format_of(path) == Format::Npz)
    fail(name, ".npz archives are written, not read; give each array as a .npy file");
  const bool npy = standard_input ? in.peek() == std::char_traits<char>::to_int_type(kNpyMagic[0])
                                  : format_of(path) == Format::Npy;
  // Refused before reading if it cannot fit: a .npy file of float64 in C order takes its size,
  // other .npy files are held whole and converted (up to 3 times their size); text takes about
  // its size in doubles (a number of 7 characters and its comma), and is measured exactly once
  // its rows are counted.
  std::error_code error;
  const double size = double(std::filesystem::file_size(file, error));
  const double budget = memory_budget(memory_limit);
  if (!error)
    require_fits(name, npy ? 3 * size : size, budget, memory_limit, "reading it takes about");
  if (!npy) {
    Array array;
    array.values = detail::parse_text(name, in, budget, memory_limit);
    array.shape = {array.values.rows(), array.values.cols()};
    return array;
  }
  if (!error && std::filesystem::is_regular_file(file, error)) {
    // The header first, then the values straight into the array when the file holds them as
    // the array does (float64, C order): one copy, from the page cache.
    const std::size_t total = std::size_t(size);
    std::string head(std::min(total, 12 + kNpyMaxHeader), '\0');
    in.read(head.data(), std::streamsize(head.size()));
    head.resize(std::size_t(in.gcount()));
    const NpyLayout layout = npy_layout(name, head, total);
    const std::size_t data_bytes = layout.count * layout.item;
    const std::size_t in_head = std::min(head.size() - layout.data_offset, data_bytes);
    auto read_rest = [&](char* to) {
      std::memcpy(to, head.data() + layout.data_offset, in_head);
      in.read(to + in_head, std::streamsize(data_bytes - in_head));
      if (std::size_t(in.gcount()) != data_bytes - in_head)
        fail(name, "the file shrank while read");
    };
    if (layout.as_array()) {
      Array array = npy_array(layout, nullptr);
      read_rest(reinterpret_cast<char*>(array.values.data()));
      return array;
    }
    std::string data(data_bytes, '\0');
    read_rest(data.data());
    return npy_array(layout, data.data());
  }
  // A stream without a size (a pipe, a device): read in blocks, refused as soon as it outgrows
  // the budget (a third of it: the values are converted after).
  std::string bytes;
  for (char block[1 << 16]; in.read(block, sizeof block) || in.gcount() > 0;) {
    bytes.append(block, std::size_t(in.gcount()));
    require_fits(name, 3.0 * double(bytes.size()), budget, memory_limit,
                 "after " + format_bytes(double(bytes.size())) + ", reading it takes");
  }
  if (in.bad()) fail(name, "read error");
  return detail::parse_npy(name, bytes);
}

RowBlock read_row_block(const std::string& path, int part, int parts, std::uint64_t memory_limit) {
  const std::string name = shown(path);
  auto cut = [&](const std::vector<Index>& shape, Index rows) {
    if (shape.size() > 2) {
      fail(name,
           "a 3-D array (a batch of problems) is not split over processes; solve a batch "
           "in one process");
    }
    if (rows < parts) {
      fail(name, "its " + std::to_string(rows) + " rows cannot be split over " +
                     std::to_string(parts) + " processes (one row each at least)");
    }
    return row_block(rows, part, parts);
  };
  std::error_code error;
  if (path != "-" && format_of(path) == Format::Npy &&
      std::filesystem::is_regular_file(path, error)) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(name, std::string("cannot open: ") + std::strerror(errno));
    const std::size_t total = std::size_t(std::filesystem::file_size(path, error));
    if (error) fail(name, "cannot read its size: " + error.message());
    std::string head(std::min(total, 12 + kNpyMaxHeader), '\0');
    in.read(head.data(), std::streamsize(head.size()));
    head.resize(std::size_t(in.gcount()));
    NpyLayout layout = npy_layout(name, head, total);
    if (!layout.fortran) {
      const Index rows = layout.shape[0];
      const RowRange range = cut(layout.shape, rows);
      const std::size_t row_bytes = layout.count / std::size_t(rows) * layout.item;
      layout.count = layout.count / std::size_t(rows) * std::size_t(range.size());
      layout.shape[0] = range.size();
      require_fits(name, 8.0 * double(layout.count), memory_budget(memory_limit), memory_limit,
                   "its block of rows takes");
      in.seekg(std::streamoff(layout.data_offset + std::size_t(range.begin) * row_bytes));
      // Straight into the array when the file holds float64 (one copy), else converted.
      auto read = [&](char* to, std::size_t bytes) {
        in.read(to, std::streamsize(bytes));
        if (std::size_t(in.gcount()) != bytes) fail(name, "the file shrank while read");
      };
      if (layout.as_array()) {
        Array block = npy_array(layout, nullptr);
        read(reinterpret_cast<char*>(block.values.data()), layout.count * layout.item);
        return {std::move(block.values), range.begin, rows};
      }
      std::string data(layout.count * layout.item, '\0');
      read(data.data(), data.size());
      return {npy_array(layout, data.data()).values, range.begin, rows};
    }
  }
  Array array = read_array(path, memory_limit);
  const RowRange range = cut(array.shape, array.values.rows());
  return {array.values.middleRows(range.begin, range.size()), range.begin, array.values.rows()};
}

Matrix<double> read_matrix(const std::string& path, std::uint64_t memory_limit) {
  Array array = read_array(path, memory_limit);
  if (array.shape.size() > 2) {
    fail(shown(path),
         "the array has " + std::to_string(array.shape.size()) +
             " dimensions; expected 1 or 2 (a batch of problems is read by eot solve)");
  }
  return std::move(array.values);
}

Vector<double> read_vector(const std::string& path) {
  Matrix<double> matrix = read_matrix(path);
  if (matrix.rows() != 1 && matrix.cols() != 1) {
    fail(shown(path), "expected a vector (one column or one row), got a " +
                          std::to_string(matrix.rows()) + " x " + std::to_string(matrix.cols()) +
                          " matrix");
  }
  return Eigen::Map<const Vector<double>>(matrix.data(), matrix.size());
}

void OutputBatch::write_matrix(const std::string& path,
                               const Eigen::Ref<const Matrix<double>>& matrix) {
  // Written from the caller's memory when its rows are contiguous: a copy would double the
  // peak of a large plan.
  const std::vector<Index> shape = {matrix.rows(), matrix.cols()};
  if (matrix.outerStride() == matrix.cols()) {
    staged_.push_back(stage_array(path, matrix.data(), shape));
    return;
  }
  const Matrix<double> contiguous = matrix;
  staged_.push_back(stage_array(path, contiguous.data(), shape));
}

void OutputBatch::write_vector(const std::string& path,
                               const Eigen::Ref<const Vector<double>>& vector) {
  if (vector.innerStride() == 1) {
    staged_.push_back(stage_array(path, vector.data(), {vector.size()}));
    return;
  }
  const Vector<double> contiguous = vector;
  staged_.push_back(stage_array(path, contiguous.data(), {contiguous.size()}));
}

void OutputBatch::write_array(const std::string& path, const Array& array) {
  staged_.push_back(stage_array(path, array.values.data(), array.shape));
}

bool is_archive(const std::string& path) {
  return ends_with(path, ".npz");
}

void OutputBatch::write_named(const std::string& path, const std::vector<NamedArray>& arrays) {
  if (is_archive(path)) {
    require_npz_fits(path, arrays);
    staged_.push_back(stage(path, [&](FILE* out) { return write_npz(out, arrays); }));
    return;
  }
  Vector<double> all(Index(std::accumulate(
      arrays.begin(), arrays.end(), std::size_t(0),
      [](std::size_t sum, const NamedArray& array) { return sum + entries(array.shape); })));
  Index at = 0;
  for (const NamedArray& array : arrays) {
    const Index count = Index(entries(array.shape));
    all.segment(at, count) = Eigen::Map<const Vector<double>>(array.data, count);
    at += count;
  }
  write_vector(path, all);
}

void OutputBatch::write_text(const std::string& path, const std::string& text) {
  staged_.push_back(stage_text(path, text));
}

void OutputBatch::write_with(const std::string& path,
                             const std::function<bool(const std::string&)>& produce) {
  staged_.push_back(stage(
      path, [](FILE*) { return false; }, produce));
}

void OutputBatch::commit() {
  std::vector<Staged> staged;
  staged.swap(staged_);
  for (std::size_t k = 0; k < staged.size(); ++k) {
    try {
      publish(staged[k]);
    } catch (...) {
      for (std::size_t rest = k + 1; rest < staged.size(); ++rest) discard(staged[rest]);
      throw;
    }
  }
}

OutputBatch::~OutputBatch() {
  for (const Staged& staged : staged_) discard(staged);
}

void write_matrix(const std::string& path, const Eigen::Ref<const Matrix<double>>& matrix) {
  OutputBatch batch;
  batch.write_matrix(path, matrix);
  batch.commit();
}

void write_vector(const std::string& path, const Eigen::Ref<const Vector<double>>& vector) {
  OutputBatch batch;
  batch.write_vector(path, vector);
  batch.commit();
}

void write_text(const std::string& path, const std::string& text) {
  OutputBatch batch;
  batch.write_text(path, text);
  batch.commit();
}

void check_outputs(const std::vector<OutputPath>& outputs, const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  if (std::count(inputs.begin(), inputs.end(), "-") > 1)
    throw InvalidArgument("-: the standard input can be read once; give the other inputs as files");
  auto same_file = [](const std::string& a, const std::string& b) {
    std::error_code error;
    if (fs::exists(a, error) && fs::exists(b, error)) return fs::equivalent(a, b, error);
    return fs::weakly_canonical(a, error) == fs::weakly_canonical(b, error);  // a.csv, ./a.csv
  };
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    const OutputPath& o = outputs[k];
    if (o.path.empty()) continue;
    if (o.path == "-") {
      if (!o.may_be_standard_output)
        throw InvalidArgument(o.option +
                              ": -: this output cannot go to the standard output; name a file");
      for (std::size_t other = 0; other < k; ++other) {
        if (outputs[other].path == "-") {
          throw InvalidArgument(outputs[other].option + " and " + o.option +
                                " both write the standard output (-); name a file for one");
        }
      }
      continue;
    }
    const std::string name = o.option + ": " + o.path;
    if (o.array) {
      try {
        format_of(o.path);
      } catch (const IoError&) {
        throw InvalidArgument(name +
                              ": unknown file type; expected a name ending in .csv, .txt, "
                              ".npy or .npz");
      }
    }
    const fs::path folder = fs::path(o.path).parent_path();
    std::error_code error;
    if (!folder.empty() && !fs::is_directory(folder, error))
      throw InvalidArgument(name + ": the folder " + folder.string() + " does not exist");
    if (access(folder.empty() ? "." : folder.c_str(), W_OK) != 0)
      throw InvalidArgument(name + ": cannot write in " + (folder.empty() ? "." : folder.string()) +
                            ": " + std::strerror(errno));
    if (fs::is_directory(o.path, error)) throw InvalidArgument(name + ": is a folder");
    for (std::size_t other = 0; other < k; ++other) {
      if (!outputs[other].path.empty() && same_file(outputs[other].path, o.path))
        throw InvalidArgument(outputs[other].option + " and " + o.option +
                              " name the same file: " + o.path);
    }
    for (const std::string& input : inputs) {
      if (!input.empty() && same_file(input, o.path))
        throw InvalidArgument(name + ": is also an input; write the output elsewhere");
    }
  }
}

void cancel_writes() {
  Writes& all = writes();
  std::lock_guard<std::mutex> guard(all.lock);
  all.cancelled = true;
  for (const std::string& temporary : all.partial) std::remove(temporary.c_str());
}

}  // namespace eot::io
