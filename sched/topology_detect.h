// The OS seam behind Topology::detect() (private to sched): one file per source of
// truth. sched/topology_hwloc.cc (Linux, hwloc) and sched/topology_win32.cc
// (GetLogicalProcessorInformationEx). Synthetic topologies need no OS: they are
// parsed by sched/topology.cc on every platform.
#pragma once

#include <vector>

#include "spindle/sched/topology.h"

namespace spindle::detail {

// Core::shared_cache of a core whose last-level cache is an L2 (no L3): this plus
// the L2's index, so L2 ids never equal L3 ids.
inline constexpr int kL2CacheIdBase = 1 << 16;

// The cores of this machine that the process may run on, in the OS's order, with
// Core::index set to their position; empty if the OS does not say (detect() then
// falls back to one core per allowed CPU).
std::vector<Core> detect_cores();

}  // namespace spindle::detail
