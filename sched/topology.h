// Topology: the machine's cores, what they share (caches, package, NUMA node), from
// hwloc on Linux and GetLogicalProcessorInformationEx on Windows
// (sched/topology_detect.h). Also builds synthetic topologies in hwloc's notation
// ("package:2 core:4 pu:2") on every platform, so that placement and stealing
// policies can be tested for machines we do not have.
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
  // This machine (the CPUs this process may use), as the OS describes it. Falls
  // back to one core per allowed CPU if the OS does not say.
  static Topology detect();
  // A synthetic machine in hwloc's notation, e.g. "package:2 l3:1 core:4 pu:2":
  // `<level>:<count>` from the top down, levels package (socket), numa (node),
  // group, l3, l2, l1, core and pu, each at most once; a core level is required
  // and only pu may follow it (pu:1 if absent). Numbered as hwloc numbers them
  // (PU i of core c is c * pus-per-core + i). Throws std::invalid_argument
  // otherwise.
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
