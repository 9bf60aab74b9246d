// Topology: the machine's cores, what they share (caches, package, NUMA node), from
// hwloc. Also builds hwloc's synthetic topologies ("package:2 core:4 pu:2"), so
// that placement and stealing policies can be tested for machines we do not have.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace spindle {

struct Core {
  int index = 0;            // logical index among cores
  std::vector<int> pus;     // OS indices of its processing units (hyperthreads)
  int package = 0;          // logical index of its package (socket)
  int numa_node = 0;        // logical index of its NUMA node
  int shared_cache = -1;    // logical index of its last-level cache (-1: none known)
};

class Topology {
 public:
  // This machine, as hwloc sees it. Falls back to one core per online CPU if hwloc
  // fails.
  static Topology detect();
  // An hwloc synthetic description, e.g. "package:2 l3:1 core:4 pu:2". Throws
  // std::invalid_argument if hwloc rejects it.
  static Topology synthetic(std::string_view description);

  const std::vector<Core>& cores() const { return cores_; }
  int pu_count() const;

  // How far apart two cores are, for stealing order: 0 same core, 1 same
  // last-level cache, 2 same NUMA node and package, 3 farther.
  int distance(int core_a, int core_b) const;

  // One line per core, for logs and demos.
  std::string describe() const;

 private:
  std::vector<Core> cores_;
};

}  // namespace spindle
