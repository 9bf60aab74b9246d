// Topology::detect()'s source on Windows: GetLogicalProcessorInformationEx
// (sched/topology_detect.h). PUs are numbered group * 64 + number within the group,
// as sched/os_thread.h numbers CPUs.
#include <windows.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "spindle/sched/os_thread.h"
#include "sched/topology_detect.h"

namespace spindle::detail {
namespace {

constexpr int kGroupSize = 64;

struct Span {
  std::vector<int> pus;  // global PU numbers, ascending
  bool contains(int pu) const { return std::binary_search(pus.begin(), pus.end(), pu); }
};

Span span_of(const GROUP_AFFINITY* masks, WORD count) {
  Span s;
  for (WORD g = 0; g < count; ++g) {
    for (int bit = 0; bit < kGroupSize; ++bit) {
      if (masks[g].Mask & (KAFFINITY{1} << bit)) s.pus.push_back(masks[g].Group * kGroupSize + bit);
    }
  }
  std::sort(s.pus.begin(), s.pus.end());
  return s;
}

// The position in `spans` of the first span holding `pu`, or -1.
int find_span(const std::vector<Span>& spans, int pu) {
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].contains(pu)) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

std::vector<Core> detect_cores() {
  DWORD bytes = 0;
  GetLogicalProcessorInformationEx(RelationAll, nullptr, &bytes);
  if (bytes == 0) return {};
  std::vector<std::uint8_t> buffer(bytes);
  auto* first = reinterpret_cast<SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX*>(buffer.data());
  if (!GetLogicalProcessorInformationEx(RelationAll, first, &bytes)) return {};

  std::vector<Span> cores, packages, l3, l2;
  std::vector<std::pair<Span, int>> numa;  // span, node number
  for (DWORD offset = 0; offset < bytes;) {
    auto* info = reinterpret_cast<SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX*>(buffer.data() + offset);
    switch (info->Relationship) {
      case RelationProcessorCore:
        cores.push_back(span_of(info->Processor.GroupMask, info->Processor.GroupCount));
        break;
      case RelationProcessorPackage:
        packages.push_back(span_of(info->Processor.GroupMask, info->Processor.GroupCount));
        break;
      case RelationCache:
        if (info->Cache.Level == 3) l3.push_back(span_of(&info->Cache.GroupMask, 1));
        if (info->Cache.Level == 2) l2.push_back(span_of(&info->Cache.GroupMask, 1));
        break;
      case RelationNumaNode:
        numa.emplace_back(span_of(&info->NumaNode.GroupMask, 1), static_cast<int>(info->NumaNode.NodeNumber));
        break;
      default:
        break;
    }
    if (info->Size == 0) break;
    offset += info->Size;
  }

  const std::vector<int> allowed = process_affinity();
  std::vector<Core> out;
  for (const Span& span : cores) {
    Core c;
    for (int pu : span.pus) {
      if (std::binary_search(allowed.begin(), allowed.end(), pu)) c.pus.push_back(pu);
    }
    if (c.pus.empty()) continue;
    c.index = static_cast<int>(out.size());
    c.package = std::max(0, find_span(packages, c.pus.front()));
    c.numa_node = 0;
    for (const auto& [node, number] : numa) {
      if (node.contains(c.pus.front())) {
        c.numa_node = number;
        break;
      }
    }
    c.shared_cache = find_span(l3, c.pus.front());
    if (c.shared_cache < 0) {
      const int l2_index = find_span(l2, c.pus.front());
      if (l2_index >= 0) c.shared_cache = kL2CacheIdBase + l2_index;
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace spindle::detail
