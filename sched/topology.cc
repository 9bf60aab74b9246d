#include "spindle/sched/topology.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>
#include <string>
#include <utility>

#include "spindle/sched/os_thread.h"
#include "sched/topology_detect.h"

namespace spindle {
namespace {

// The levels of a synthetic description that spindle understands (hwloc's names
// and common aliases). Caches above L2 and below L3 do not affect placement.
enum class Level { kPackage, kNuma, kGroup, kL3, kL2, kL1, kCore, kPu };

bool level_named(std::string_view name, Level& level) {
  static constexpr std::pair<std::string_view, Level> kNames[] = {
      {"package", Level::kPackage}, {"pack", Level::kPackage}, {"socket", Level::kPackage},
      {"numa", Level::kNuma},       {"node", Level::kNuma},    {"numanode", Level::kNuma},
      {"group", Level::kGroup},     {"l3", Level::kL3},        {"l3cache", Level::kL3},
      {"l3u", Level::kL3},          {"l2", Level::kL2},        {"l2cache", Level::kL2},
      {"l2u", Level::kL2},          {"l1", Level::kL1},        {"l1d", Level::kL1},
      {"l1cache", Level::kL1},      {"core", Level::kCore},    {"pu", Level::kPu},
  };
  for (const auto& [n, l] : kNames) {
    if (n == name) {
      level = l;
      return true;
    }
  }
  return false;
}

[[noreturn]] void reject(std::string_view description, const std::string& why) {
  throw std::invalid_argument("spindle::Topology: bad synthetic topology '" + std::string(description) + "': " + why);
}

}  // namespace

Topology Topology::detect() {
  Topology t;
  t.cores_ = detail::detect_cores();
  if (t.cores_.empty()) {
    for (int cpu : detail::process_affinity()) {
      t.cores_.push_back(Core{static_cast<int>(t.cores_.size()), {cpu}, 0, 0, -1});
    }
  }
  return t;
}

// Grammar (a subset of hwloc's synthetic descriptions): space-separated
// `<level>:<count>` from the top of the machine down, each level at most once,
// a `core` level, and nothing but `pu` below it (pu:1 if absent). Objects are
// numbered breadth-first, as hwloc's logical indices are; a level that is absent
// counts as one object for the whole machine.
Topology Topology::synthetic(std::string_view description) {
  std::vector<std::pair<Level, int>> levels;
  std::array<bool, 8> seen{};
  std::size_t i = 0;
  while (i < description.size()) {
    if (std::isspace(static_cast<unsigned char>(description[i]))) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < description.size() && !std::isspace(static_cast<unsigned char>(description[end]))) ++end;
    const std::string_view token = description.substr(i, end - i);
    i = end;
    const std::size_t colon = token.find(':');
    if (colon == std::string_view::npos) reject(description, "'" + std::string(token) + "' is not <level>:<count>");
    std::string name(token.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    Level level{};
    if (!level_named(name, level)) reject(description, "unknown level '" + name + "'");
    const std::string_view count_text = token.substr(colon + 1);
    int count = 0;
    const auto [ptr, ec] = std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
    if (ec != std::errc() || ptr != count_text.data() + count_text.size() || count < 1 || count > 4096) {
      reject(description, "bad count in '" + std::string(token) + "'");
    }
    const auto slot = static_cast<std::size_t>(level);
    if (seen[slot]) reject(description, "level '" + name + "' given twice");
    if (seen[static_cast<std::size_t>(Level::kCore)] && level != Level::kPu) {
      reject(description, "only pu may follow core");
    }
    if (seen[static_cast<std::size_t>(Level::kPu)]) reject(description, "pu must be the last level");
    seen[slot] = true;
    levels.emplace_back(level, count);
  }
  if (!seen[static_cast<std::size_t>(Level::kCore)]) reject(description, "no core level");
  if (!seen[static_cast<std::size_t>(Level::kPu)]) levels.emplace_back(Level::kPu, 1);

  // Walk the cores in order. For each level, an object's index is its parent's
  // index times the level's count plus its position: `index[l]` below.
  std::size_t total_cores = 1;
  int pus_per_core = 1;
  for (const auto& [level, count] : levels) {
    if (level == Level::kPu) {
      pus_per_core = count;
    } else {
      total_cores *= static_cast<std::size_t>(count);
    }
  }
  if (total_cores * static_cast<std::size_t>(pus_per_core) > 65536) reject(description, "more than 65536 PUs");
  Topology t;
  for (std::size_t core = 0; core < total_cores; ++core) {
    // Decompose `core` into its ancestors' global indices, top level first.
    std::array<int, 8> index{};
    std::size_t below = total_cores;
    for (const auto& [level, count] : levels) {
      if (level == Level::kPu) break;
      below /= static_cast<std::size_t>(count);
      index[static_cast<std::size_t>(level)] = static_cast<int>(core / below);
    }
    Core c;
    c.index = static_cast<int>(core);
    for (int p = 0; p < pus_per_core; ++p) c.pus.push_back(static_cast<int>(core) * pus_per_core + p);
    c.package = index[static_cast<std::size_t>(Level::kPackage)];
    c.numa_node = index[static_cast<std::size_t>(Level::kNuma)];
    if (seen[static_cast<std::size_t>(Level::kL3)]) {
      c.shared_cache = index[static_cast<std::size_t>(Level::kL3)];
    } else if (seen[static_cast<std::size_t>(Level::kL2)]) {
      c.shared_cache = detail::kL2CacheIdBase + index[static_cast<std::size_t>(Level::kL2)];
    }
    t.cores_.push_back(std::move(c));
  }
  return t;
}

int Topology::pu_count() const {
  int n = 0;
  for (const Core& c : cores_) n += static_cast<int>(c.pus.size());
  return n;
}

int Topology::distance(int core_a, int core_b) const {
  const Core& a = cores_.at(static_cast<std::size_t>(core_a));
  const Core& b = cores_.at(static_cast<std::size_t>(core_b));
  if (core_a == core_b) return 0;
  if (a.shared_cache >= 0 && a.shared_cache == b.shared_cache) return 1;
  if (a.package == b.package && a.numa_node == b.numa_node) return 2;
  return 3;
}

std::string Topology::describe() const {
  std::string out;
  for (const Core& c : cores_) {
    out += "core " + std::to_string(c.index) + ": package " + std::to_string(c.package) + ", numa " +
           std::to_string(c.numa_node) + ", cache " + std::to_string(c.shared_cache) + ", pus";
    for (int pu : c.pus) out += " " + std::to_string(pu);
    out += "\n";
  }
  return out;
}

}  // namespace spindle
