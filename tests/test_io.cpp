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

TEST_CASE("malformed text files are refused with the place named") {
  TempDir tmp;
  const std::string dir = tmp.path.string() + "/";
  CHECK(read_error(tmp.write("a.csv", "1 2\n3 4\n5 abc\n")) ==
        dir + "a.csv: line 3, column 2: expected a number, got 'abc'");
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
  CHECK(contains(read_error(dir + "none.csv"), "none.csv: cannot open"));
  CHECK(contains(
      message_of<eot::IoError>([&] { eot::io::read_vector(tmp.write("h.csv", "1 2\n3 4\n")); }),
      "expected a vector (one column or one row), got a 2 x 2 matrix"));
}
