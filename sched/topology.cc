#include "spindle/sched/topology.h"

#include <hwloc.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

namespace spindle {
namespace {

int logical_ancestor(hwloc_topology_t topo, hwloc_obj_type_t type, hwloc_obj_t obj) {
  hwloc_obj_t a = hwloc_get_ancestor_obj_by_type(topo, type, obj);
  return a != nullptr ? static_cast<int>(a->logical_index) : -1;
}

// Reads the cores of a loaded hwloc topology.
std::vector<Core> read_cores(hwloc_topology_t topo) {
  std::vector<Core> cores;
  const int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  for (int i = 0; i < n; ++i) {
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, static_cast<unsigned>(i));
    Core c;
    c.index = i;
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
        c.shared_cache += t == HWLOC_OBJ_L3CACHE ? 0 : 1 << 16;  // keep L2 ids apart from L3 ids
        break;
      }
    }
    if (!c.pus.empty()) cores.push_back(std::move(c));
  }
  return cores;
}

class HwlocTopology {
 public:
  HwlocTopology() { hwloc_topology_init(&topo_); }
  ~HwlocTopology() { hwloc_topology_destroy(topo_); }
  hwloc_topology_t get() const { return topo_; }

 private:
  hwloc_topology_t topo_;
};

}  // namespace

Topology Topology::detect() {
  Topology t;
  HwlocTopology topo;
  if (hwloc_topology_load(topo.get()) == 0) t.cores_ = read_cores(topo.get());
  if (t.cores_.empty()) {
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 0; i < (n > 0 ? n : 1); ++i) t.cores_.push_back(Core{i, {i}, 0, 0, -1});
  }
  return t;
}

Topology Topology::synthetic(std::string_view description) {
  Topology t;
  HwlocTopology topo;
  const std::string desc(description);
  if (hwloc_topology_set_synthetic(topo.get(), desc.c_str()) != 0 || hwloc_topology_load(topo.get()) != 0) {
    throw std::invalid_argument("spindle::Topology: hwloc rejects synthetic topology '" + desc + "'");
  }
  t.cores_ = read_cores(topo.get());
  if (t.cores_.empty()) {
    throw std::invalid_argument("spindle::Topology: synthetic topology '" + desc + "' has no cores");
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
