// Numbers in messages.
#pragma once

#include <sstream>
#include <string>

namespace eot::detail {

// `value` with `digits` significant digits, as a stream prints it: 0.001, 1e-09, inf, nan. 17
// digits show every digit a double has (two sums that differ look different).
inline std::string str(double value, int digits = 6) {
  std::ostringstream out;
  out.precision(digits);
  out << value;
  return out.str();
}

}  // namespace eot::detail
