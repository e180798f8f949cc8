// The text matrix reader and the atomic writer.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"

using namespace test;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir()
      : path(std::filesystem::temp_directory_path() / ("eot-io-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

std::string read_error(const std::string& file) {
  return message_of<eot::IoError>([&] { eot::io::read_matrix(file); });
}

}  // namespace

TEST_CASE("text matrices: separators, comments, infinities") {
  TempDir tmp;
  const MatrixD m = eot::io::read_matrix(
      tmp.write("m.csv", "# a comment\n1, 2,3\n\n  4 5\t6  \r\n# another\n7,inf,-inf\n"));
  REQUIRE(m.rows() == 3);
  REQUIRE(m.cols() == 3);
  CHECK(m(1, 2) == 6);
  CHECK(m(2, 1) == eot::kInf);
  CHECK(m(2, 2) == -eot::kInf);
  CHECK(eot::io::read_vector(tmp.write("row.csv", "1 2 3\n")).size() == 3);
  CHECK(eot::io::read_vector(tmp.write("col.csv", "1\n2\n")).size() == 2);
  // Old Mac line ends (a lone CR), Windows ones, and a UTF-8 byte order mark.
  const MatrixD cr = eot::io::read_matrix(tmp.write("cr.csv", "1,2,3\r4,5,6\r"));
  CHECK(cr.rows() == 2);
  CHECK(cr(1, 0) == 4);
  CHECK(eot::io::read_matrix(tmp.write("crlf.csv", "1,2\r\n3,4\r\n")).rows() == 2);
  CHECK(eot::io::read_matrix(tmp.write("bom.csv",
                                       "\xEF\xBB\xBF"
                                       "1,2\n3,4\n"))(0, 0) == 1);
}

TEST_CASE("writing round-trips every double exactly, atomically") {
  TempDir tmp;
  MatrixD m = uniform_matrix(4, 3, 7, -1e5, 1e5);
  m(0, 0) = 1.0 / 3.0;
  m(1, 1) = 5e-324;
  m(2, 2) = eot::kInf;
  const std::string file = (tmp.path / "out.csv").string();
  eot::io::write_matrix(file, m);
  CHECK(eot::io::read_matrix(file) == m);
  // Nothing else is left behind in the folder.
  CHECK(std::distance(std::filesystem::directory_iterator(tmp.path), {}) == 1);
  // A failed write (no such folder) creates nothing.
  const std::string bad = (tmp.path / "missing" / "out.csv").string();
  CHECK(contains(message_of<eot::IoError>([&] { eot::io::write_matrix(bad, m); }),
                 "missing/out.csv: cannot"));
  CHECK(!std::filesystem::exists(bad));
}

TEST_CASE("a text file's header line of names is skipped") {
  TempDir tmp;
  MatrixD expected(2, 2);
  expected << 1, 2, 3, 4;
  CHECK(eot::io::read_matrix(tmp.write("h.csv", "# points\nx, y\n1,2\n3,4\n")) == expected);
  CHECK(eot::io::read_matrix(tmp.write("s.txt", "\xEF\xBB\xBF" "first second\n1 2\n3 4\n")) ==
        expected);
  CHECK(eot::io::read_vector(tmp.write("v.csv", "weight\n0.5\n0.5\n")) ==
        Eigen::Vector2d(0.5, 0.5));
}

TEST_CASE("malformed text files are refused with the place named") {
  TempDir tmp;
  const std::string dir = tmp.path.string() + "/";
  CHECK(read_error(tmp.write("a.csv", "1 2\n3 4\n5 abc\n")) ==
        dir + "a.csv: line 3, column 2: expected a number, got 'abc'");
  CHECK(read_error(tmp.write("ctl.csv", "1 2\n3 a\x1b[2J\xff\n")) ==
        dir + "ctl.csv: line 2, column 2: expected a number, got 'a\\x1B[2J\\xFF'");
  CHECK(read_error(tmp.write("b.csv", "1 2\n3\n")) ==
        dir + "b.csv: line 2 has 1 values but line 1 has 2");
  CHECK(read_error(tmp.write("c.csv", "")) ==
        dir + "c.csv: no numbers (the file is empty or only has comments)");
  CHECK(read_error(tmp.write("d.csv", "# only\n")) ==
        dir + "d.csv: no numbers (the file is empty or only has comments)");
  CHECK(read_error(tmp.write("e.csv", "1,,2\n")) == dir + "e.csv: line 1, column 2: empty field");
  CHECK(read_error(tmp.write("f.csv", "1,2,\n")) ==
        dir + "f.csv: line 1, column 3: empty field after a trailing comma");
  CHECK(read_error(tmp.write("g.csv", "1e999\n")) ==
        dir + "g.csv: line 1, column 1: '1e999' overflows a double");
  CHECK(read_error(tmp.write("header.csv", "x,y\n")) ==
        dir + "header.csv: no numbers (the file only has a header line)");
  CHECK(read_error(tmp.write("two.csv", "x,y\nu,v\n1,2\n")) ==
        dir + "two.csv: line 2, column 1: expected a number, got 'u'");
  CHECK(read_error(tmp.write("half.csv", "x,2\n")) ==
        dir + "half.csv: line 1, column 1: expected a number, got 'x'");
  CHECK(contains(read_error(dir + "none.csv"), "none.csv: cannot open"));
  CHECK(contains(
      message_of<eot::IoError>([&] { eot::io::read_vector(tmp.write("h.csv", "1 2\n3 4\n")); }),
      "expected a vector (one column or one row), got a 2 x 2 matrix"));
}

namespace {

std::string bytes_of(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

MatrixD fixture_matrix() {
  MatrixD m(2, 3);
  m << 1.5, -2.0, eot::kInf, 0.1, 1e-300, 3.0;
  return m;
}

}  // namespace

TEST_CASE(".npy files written by NumPy are read exactly") {
  const MatrixD m = fixture_matrix();
  CHECK(eot::io::read_matrix(data_path("npy/c_float64.npy")) == m);
  // float32, Fortran order: the same values rounded to float.
  CHECK(eot::io::read_matrix(data_path("npy/fortran_float32.npy")) ==
        m.cast<float>().cast<double>());
  const VectorXd v = eot::io::read_vector(data_path("npy/vector_float64.npy"));
  CHECK(v == (VectorXd(4) << 0.25, 0.5, 0.125, 0.125).finished());
}

TEST_CASE("3-D .npy files are read as stacks of matrices and written byte-identical to NumPy's") {
  MatrixD expected(6, 4);  // layers of 3 x 4: np.arange(24).reshape(2, 3, 4) / 8 - 1
  for (eot::Index k = 0; k < 24; ++k) expected.data()[k] = double(k) / 8 - 1;
  for (const std::string name : {"stack_float64.npy", "stack_fortran_float32.npy"}) {
    CAPTURE(name);
    const eot::io::Array array = eot::io::read_array(data_path("npy/" + name));
    CHECK(array.shape == std::vector<eot::Index>{2, 3, 4});
    CHECK(array.layers() == 2);
    CHECK(array.values == expected);
    CHECK(MatrixD(array.layer(1)) == expected.bottomRows(3));
  }
  TempDir tmp;
  const std::string file = (tmp.path / "s.npy").string();
  eot::io::OutputBatch batch;
  batch.write_array(file, eot::io::read_array(data_path("npy/stack_float64.npy")));
  batch.commit();
  CHECK(bytes_of(file) == bytes_of(data_path("npy/stack_float64.npy")));
  // Text holds 2 dimensions; a matrix is a 2-D array with one layer.
  CHECK(contains(message_of<eot::IoError>([&] {
                   eot::io::OutputBatch text;
                   text.write_array((tmp.path / "s.csv").string(),
                                    eot::io::read_array(data_path("npy/stack_float64.npy")));
                 }),
                 "a 3-dimensional array can only be written as .npy"));
  CHECK(eot::io::read_array(data_path("npy/c_float64.npy")).layers() == 1);
}

TEST_CASE(".npy output is byte-identical to NumPy's and round-trips") {
  TempDir tmp;
  const std::string file = (tmp.path / "m.npy").string();
  eot::io::write_matrix(file, fixture_matrix());
  CHECK(bytes_of(file) == bytes_of(data_path("npy/c_float64.npy")));
  const std::string vector_file = (tmp.path / "v.npy").string();
  eot::io::write_vector(vector_file, eot::io::read_vector(data_path("npy/vector_float64.npy")));
  CHECK(bytes_of(vector_file) == bytes_of(data_path("npy/vector_float64.npy")));
  const MatrixD big = uniform_matrix(33, 17, 5, -1e300, 1e300);
  eot::io::write_matrix(file, big);
  CHECK(eot::io::read_matrix(file) == big);
}

TEST_CASE(".npy integers of every width and both orders are read as doubles, exactly") {
  MatrixD ints(2, 3);
  ints << -3, 7, 2147483647, 0, -2147483648.0, 5;
  CHECK(eot::io::read_matrix(data_path("npy/int32_fortran.npy")) == ints);
  MatrixD counting(2, 3);
  counting << 0, 1, 2, 3, 4, 5;
  CHECK(eot::io::read_matrix(data_path("npy/int64.npy")) == counting);
  CHECK(eot::io::read_vector(data_path("npy/int8.npy")) == Eigen::Vector3d(-128, 0, 127));
  CHECK(eot::io::read_vector(data_path("npy/uint16.npy")) == Eigen::Vector3d(0, 65535, 3));
  CHECK(eot::io::read_vector(data_path("npy/uint64.npy")) ==
        Eigen::Vector3d(0, 9007199254740992.0, 1));
}

TEST_CASE("malformed .npy files are refused by rule") {
  auto error = [](const std::string& file) {
    return message_of<eot::IoError>([&] { eot::io::read_matrix(file); });
  };
  for (const auto& c : std::vector<std::pair<std::string, std::string>>{
           {"big_endian.npy", "dtype '>f8' is not supported"},
           {"complex.npy", "dtype '<c16' is not supported"},
           {"bool.npy", "dtype '|b1' is not supported"},
           {"big_endian_int32.npy", "dtype '>i4' is not supported"},
           {"object.npy", "dtype '|O' is not supported"},
           {"scalar.npy", "the array has 0 dimensions; expected 1, 2 or 3"},
           {"four_d.npy", "the array has 4 dimensions; expected 1, 2 or 3"},
           {"three_d.npy", "the array has 3 dimensions; expected 1 or 2"}}) {
    const std::string &name = c.first, &expected = c.second;  // clang 14 can't CAPTURE a binding
    CAPTURE(name);
    CHECK(contains(error(data_path("npy/" + name)), expected));
  }
  TempDir tmp;
  const std::string good = bytes_of(data_path("npy/c_float64.npy"));
  CHECK(contains(error(tmp.write("magic.npy", "1,2,3\n")), "not a .npy file"));
  CHECK(contains(error(tmp.write("short.npy", good.substr(0, good.size() - 3))),
                 "truncated .npy data: the shape (2, 3) needs 48 bytes, found 45"));
  CHECK(contains(error(tmp.write("long.npy", good + "xx")), "the .npy data has 50 bytes"));
  CHECK(contains(error(tmp.write("header.npy", good.substr(0, 50))), "truncated .npy header"));
  std::string absurd = good;
  absurd[6] = 2;  // version 2: a 4-byte header length
  absurd.insert(10, 2, '\xff');
  absurd[8] = absurd[9] = '\xff';
  CHECK(contains(error(tmp.write("absurd.npy", absurd)), "header length 4294967295 is absurd"));
  std::string forged = good;
  const std::string huge = "(99999999, 99999999), }";  // same header length, uses the padding
  forged.replace(forged.find("(2, 3), }"), huge.size(), huge);
  CHECK(contains(error(tmp.write("forged.npy", forged)), "truncated .npy data"));
  // Found by tests/fuzz/fuzz_npy: an empty shape once escaped as std::out_of_range.
  for (const auto& [shape, expected] : std::vector<std::pair<std::string, std::string>>{
           {"      ", "the .npy header's 'shape' field is empty"},
           {"3,    ", "the .npy shape 3 is not a tuple"}}) {
    std::string edited = good;
    edited.replace(edited.find("(2, 3)"), shape.size(), shape);
    CHECK(contains(error(tmp.write("shape.npy", edited)), expected));
  }
  CHECK(contains(message_of<eot::IoError>([&] { eot::io::read_matrix(tmp.write("m.dat", "1")); }),
                 "unknown file type; expected a name ending in .csv, .txt or .npy"));
}

TEST_CASE("a file too large for memory is refused before it is read, pointing to point clouds") {
  TempDir dir;
  for (const char* name : {"cost.npy", "cost.csv"}) {
    const std::filesystem::path file = dir.path / name;
    std::ofstream(file).put('1');
    // Sparse: as large as four times the memory available, without using the disk.
    std::filesystem::resize_file(file, 4 * eot::available_memory());
    const std::string message = read_error(file.string());
    CHECK(contains(message, std::string(name) + ": reading it takes about "));
    CHECK(contains(message,
                   "GB of memory is available; for costs between points, give the "
                   "points instead"));
  }
}

TEST_CASE("a batch of outputs lands whole or not at all") {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("eot-batch-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string first = (dir / "a.csv").string(), second = (dir / "b.npy").string();
  { std::ofstream(first) << "old\n"; }
  {
    eot::io::OutputBatch batch;
    batch.write_matrix(first, MatrixD::Ones(2, 2));
    CHECK_THROWS_AS(batch.write_vector((dir / "no" / "c.csv").string(), VectorXd::Ones(3)),
                    eot::OutputError);
  }  // never committed: the first destination keeps its content, no temporary is left
  std::ifstream kept(first);
  std::string line;
  std::getline(kept, line);
  CHECK(line == "old");
  eot::io::OutputBatch batch;
  batch.write_matrix(first, MatrixD::Ones(2, 2));
  batch.write_vector(second, VectorXd::Ones(3));
  CHECK(!std::filesystem::exists(second));  // staged, not yet in place
  batch.commit();
  CHECK(eot::io::read_matrix(first) == MatrixD::Ones(2, 2));
  CHECK(eot::io::read_vector(second) == VectorXd::Ones(3));
  CHECK(std::distance(std::filesystem::directory_iterator(dir),
                      std::filesystem::directory_iterator()) == 2);  // no temporary left
  std::filesystem::remove_all(dir);
}
