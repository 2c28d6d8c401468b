#pragma once
// The benchmarks' command lines: "--flag value" pairs, lists as "a,b,c".
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace pixelmill::bench {

inline std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  std::istringstream in(list);
  for (std::string item; std::getline(in, item, ',');) items.push_back(item);
  return items;
}

// Calls on_flag(flag, value) for each pair; throws std::invalid_argument for a flag
// without a value (and on_flag throws for a flag it does not know).
inline void for_each_flag(int argc, char** argv,
                          const std::function<void(const std::string&, const std::string&)>& on_flag) {
  if (argc % 2 == 0) throw std::invalid_argument("flags take one value each");
  for (int i = 1; i + 1 < argc; i += 2) on_flag(argv[i], argv[i + 1]);
}

}  // namespace pixelmill::bench
