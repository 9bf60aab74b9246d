// Topology::detect()'s source on Linux: hwloc (sched/topology_detect.h).
#include <hwloc.h>

#include <algorithm>

#include "sched/topology_detect.h"

namespace spindle::detail {
namespace {

int logical_ancestor(hwloc_topology_t topo, hwloc_obj_type_t type, hwloc_obj_t obj) {
  hwloc_obj_t a = hwloc_get_ancestor_obj_by_type(topo, type, obj);
  return a != nullptr ? static_cast<int>(a->logical_index) : -1;
}

class HwlocTopology {
 public:
  HwlocTopology() { hwloc_topology_init(&topo_); }
  ~HwlocTopology() { hwloc_topology_destroy(topo_); }
  HwlocTopology(const HwlocTopology&) = delete;
  HwlocTopology& operator=(const HwlocTopology&) = delete;
  hwloc_topology_t get() const { return topo_; }

 private:
  hwloc_topology_t topo_;
};

}  // namespace

std::vector<Core> detect_cores() {
  HwlocTopology holder;
  hwloc_topology_t topo = holder.get();
  std::vector<Core> cores;
  if (hwloc_topology_load(topo) != 0) return cores;
  const int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  for (int i = 0; i < n; ++i) {
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, static_cast<unsigned>(i));
    Core c;
    c.index = static_cast<int>(cores.size());
    hwloc_obj_t pu = nullptr;
    while ((pu = hwloc_get_next_obj_inside_cpuset_by_type(topo, obj->cpuset, HWLOC_OBJ_PU, pu)) != nullptr) {
      c.pus.push_back(static_cast<int>(pu->os_index));
    }
    c.package = std::max(0, logical_ancestor(topo, HWLOC_OBJ_PACKAGE, obj));
    const int numa = obj->nodeset != nullptr ? hwloc_bitmap_first(obj->nodeset) : -1;
    c.numa_node = numa < 0 ? 0 : numa;
    for (hwloc_obj_type_t t : {HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L2CACHE}) {
      c.shared_cache = logical_ancestor(topo, t, obj);
      if (c.shared_cache >= 0) {
        c.shared_cache += t == HWLOC_OBJ_L3CACHE ? 0 : kL2CacheIdBase;  // keep L2 ids apart from L3 ids
        break;
      }
    }
    if (!c.pus.empty()) cores.push_back(std::move(c));
  }
  return cores;
}

}  // namespace spindle::detail
