//===- HardwareProfile.h - the machines the throughput model knows -*- C++
//-*-===//
//
// A hardware profile is what the throughput model (ThroughputModel.h) needs
// to know about a machine: its GPU's memory bandwidth and capacity, the link
// between GPU and host (PCIe), and the host's memory bandwidth, capacity and
// the cores attention may use, each bandwidth with the fraction of it a
// kernel reaches (a stated efficiency, not a measurement). Built-in profiles
// are JSON text parsed by the same reader as a user's file, so both go
// through one set of checks.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_COST_HARDWAREPROFILE_H
#define HGC_PASSES_COST_HARDWAREPROFILE_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::hgc {

struct MemoryProfile {
  double bandwidthGBs = 0; // GB/s (1e9 bytes), the specification's figure
  double capacityGB = 0;   // GB (1e9 bytes)
  double efficiency = 0;   // the fraction of bandwidthGBs a kernel reaches
  double bytesPerSecond() const { return bandwidthGBs * 1e9 * efficiency; }
};

struct HardwareProfile {
  std::string name;
  std::string description;
  /// The GPU's memory; absent when the device tier is host memory
  /// (emulated: what this machine runs).
  std::optional<MemoryProfile> gpu;
  /// Fixed GPU time per layer and step: kernel launches of a captured graph.
  double gpuLayerOverheadUs = 0;
  /// The GPU-host link (capacity unused); with a GPU only.
  std::string linkName;
  MemoryProfile link;
  double linkLatencyUs = 0; // per transfer
  /// The host's memory and the cores hgc's host kernels may use.
  std::string cpuName;
  MemoryProfile cpu;
  int64_t cpuCores = 0;
};

/// The built-in profiles' names, in the order `hgc plan` lists them.
std::vector<std::string> getHardwareProfileNames();

/// A built-in profile by name, or a JSON file by path; a one-line error
/// naming the profile, the file or the bad field otherwise.
llvm::Expected<HardwareProfile> loadHardwareProfile(llvm::StringRef nameOrPath);

/// A profile from JSON text; `source` names it in errors.
llvm::Expected<HardwareProfile> parseHardwareProfile(llvm::StringRef text,
                                                     llvm::StringRef source);

} // namespace mlir::hgc

#endif // HGC_PASSES_COST_HARDWAREPROFILE_H
