// The test runner. ctest runs each test case alone, by name (doctest_discover_tests), and a
// filter that matches nothing would pass: this runner fails it instead. CMake's script escapes a
// comma in a name as "\,", which this doctest (2.4.9) does not read (the filter would split
// there); each escaped comma becomes "?", doctest's one-character wildcard. (A ';' in a name
// cannot be passed at all: CMake splits lists there; the check below catches it.)
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

int started = 0;  // test cases run

// Counts the test cases that run; reports nothing.
struct Counter : doctest::IReporter {
  explicit Counter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { ++started; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("counter", 1, Counter);

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  std::vector<char*> pointers;
  bool filtered = false, listing = false;
  for (std::string& arg : args) {
    for (std::size_t at; (at = arg.find("\\,")) != std::string::npos;) arg.replace(at, 2, "?");
    filtered = filtered || arg.rfind("--test-case=", 0) == 0 || arg.rfind("-tc=", 0) == 0;
    listing = listing || arg.rfind("--list", 0) == 0 || arg.rfind("-l", 0) == 0;
    pointers.push_back(arg.data());
  }
  doctest::Context context(argc, pointers.data());
  const int result = context.run();
  if (result == 0 && filtered && !listing && started == 0 && !context.shouldExit()) {
    std::fprintf(stderr, "no test case matches the filter: it would pass without testing\n");
    return 1;
  }
  return result;
}
