//===- Numa.h - NUMA nodes for host pages -----------------------*- C++ -*-===//
//
// On machines with several memory nodes the host tier places its page arenas
// on chosen nodes: interleaved over every online node by default, so the
// CPU's sparse attention reads from all memory controllers at once, or on
// the nodes a config names (e.g. the node whose cores run attention). Uses
// the mbind/get_mempolicy system calls directly: no libnuma dependency.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_NUMA_H
#define HGC_RUNTIME_NUMA_H

#include <cstddef>
#include <string>
#include <vector>

namespace hgc::rt::numa {

/// Parses a Linux node list ("0", "0-3,6"); false with `error` when bad.
bool parseNodeList(const std::string &text, std::vector<int> &nodes,
                   std::string &error);
/// The online nodes (from sysfs); {0} when the kernel does not say.
std::vector<int> onlineNodes();
/// Binds `bytes` at page-aligned `memory` (not yet touched) to `node`.
bool bind(void *memory, size_t bytes, int node, std::string &error);
/// The node holding the (touched) page at `memory`, or -1.
int nodeOf(const void *memory);

} // namespace hgc::rt::numa

#endif // HGC_RUNTIME_NUMA_H
