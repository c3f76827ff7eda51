//===- HardwareProfile.cpp - the machines the throughput model knows ------===//
//
// Bandwidths and capacities are the vendors' specification figures; the
// efficiencies are assumptions stated once here and in docs/throughput.md:
// 0.8 of HBM/GDDR bandwidth for memory-bound decode kernels, 0.8 of a PCIe
// link's per-direction bandwidth for large DMA copies, and 0.75 of a host's
// bandwidth for hgc's host kernels (its dense f16 kernel reached 74-82% of
// this machine's read bandwidth, docs/bench/attention.json). The host
// servers are typical of each GPU's class; a JSON file describes any other.
//
//===----------------------------------------------------------------------===//

#include "passes/cost/HardwareProfile.h"

#include "passes/cost/JsonFields.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace llvm;
using namespace mlir::hgc;
using namespace mlir::hgc::cost;

namespace {
// Each names itself ("name"); the order is the one `hgc plan` lists.
const char *const kBuiltinProfileJson[] = {
    R"json({
  "name": "h100-pcie5",
  "description": "NVIDIA H100 PCIe 80GB on PCIe 5.0 x16, one socket of a Xeon (Sapphire Rapids) server",
  "gpu": {"bandwidth_gbs": 2000, "capacity_gb": 80, "efficiency": 0.8,
          "layer_overhead_us": 20},
  "link": {"name": "PCIe 5.0 x16", "bandwidth_gbs": 64, "latency_us": 10,
           "efficiency": 0.8},
  "cpu": {"name": "8 x DDR5-4800", "bandwidth_gbs": 307, "capacity_gb": 512,
          "cores": 32, "efficiency": 0.75}
})json",
    R"json({
  "name": "h200",
  "description": "NVIDIA H200 141GB on PCIe 5.0 x16, one socket of a Xeon (Emerald Rapids) server",
  "gpu": {"bandwidth_gbs": 4800, "capacity_gb": 141, "efficiency": 0.8,
          "layer_overhead_us": 20},
  "link": {"name": "PCIe 5.0 x16", "bandwidth_gbs": 64, "latency_us": 10,
           "efficiency": 0.8},
  "cpu": {"name": "8 x DDR5-5600", "bandwidth_gbs": 358, "capacity_gb": 1024,
          "cores": 32, "efficiency": 0.75}
})json",
    R"json({
  "name": "a6000",
  "description": "NVIDIA RTX A6000 48GB on PCIe 4.0 x16, a Threadripper PRO workstation",
  "gpu": {"bandwidth_gbs": 768, "capacity_gb": 48, "efficiency": 0.8,
          "layer_overhead_us": 20},
  "link": {"name": "PCIe 4.0 x16", "bandwidth_gbs": 32, "latency_us": 10,
           "efficiency": 0.8},
  "cpu": {"name": "8 x DDR4-3200", "bandwidth_gbs": 204.8, "capacity_gb": 256,
          "cores": 32, "efficiency": 0.75}
})json",
    R"json({
  "name": "rtx4090",
  "description": "NVIDIA GeForce RTX 4090 24GB on PCIe 4.0 x16, a Ryzen 9 7950X desktop",
  "gpu": {"bandwidth_gbs": 1008, "capacity_gb": 24, "efficiency": 0.8,
          "layer_overhead_us": 20},
  "link": {"name": "PCIe 4.0 x16", "bandwidth_gbs": 32, "latency_us": 10,
           "efficiency": 0.8},
  "cpu": {"name": "2 x DDR5-5200", "bandwidth_gbs": 83.2, "capacity_gb": 128,
          "cores": 16, "efficiency": 0.75}
})json",
    R"json({
  "name": "host",
  "description": "this machine: AMD Zen 3, 2 cores, no GPU (the device tier is emulated in host memory)",
  "gpu": null,
  "cpu": {"name": "measured read bandwidth", "bandwidth_gbs": 31,
          "capacity_gb": 24, "cores": 2, "efficiency": 0.75}
})json",
};

MemoryProfile readMemory(JsonFields fields, bool withCapacity) {
  MemoryProfile memory;
  memory.bandwidthGBs = fields.number("bandwidth_gbs");
  memory.capacityGB = withCapacity ? fields.number("capacity_gb") : 0;
  memory.efficiency = fields.fraction("efficiency");
  return memory;
}
} // namespace

/// The built-in profiles, parsed once (a unit test parses each).
static const std::vector<HardwareProfile> &getBuiltinProfiles() {
  static const std::vector<HardwareProfile> profiles = [] {
    std::vector<HardwareProfile> parsed;
    for (const char *json : kBuiltinProfileJson) {
      Expected<HardwareProfile> profile =
          parseHardwareProfile(json, "a built-in profile");
      if (!profile)
        report_fatal_error(profile.takeError());
      parsed.push_back(std::move(*profile));
    }
    return parsed;
  }();
  return profiles;
}

std::vector<std::string> mlir::hgc::getHardwareProfileNames() {
  std::vector<std::string> names;
  for (const HardwareProfile &profile : getBuiltinProfiles())
    names.push_back(profile.name);
  return names;
}

Expected<HardwareProfile> mlir::hgc::parseHardwareProfile(StringRef text,
                                                          StringRef source) {
  Expected<json::Value> value = parseJsonObject(text, source);
  if (!value)
    return value.takeError();
  JsonFields top(value->getAsObject(), source.str());
  top.checkKnown({"name", "description", "gpu", "link", "cpu"});
  HardwareProfile profile;
  profile.name = top.string("name");
  profile.description = top.string("description", /*required=*/false);
  bool hasGpu = false, hasLink = false, hasCpu = false;
  JsonFields gpu = top.object("gpu", hasGpu);
  if (hasGpu) {
    gpu.checkKnown(
        {"bandwidth_gbs", "capacity_gb", "efficiency", "layer_overhead_us"});
    profile.gpu = readMemory(gpu, /*withCapacity=*/true);
    profile.gpuLayerOverheadUs = gpu.number("layer_overhead_us", false, 0,
                                            /*allowZero=*/true);
  }
  JsonFields link = top.object("link", hasLink);
  if (hasGpu) {
    if (!hasLink)
      top.fail("link", "is missing (a profile with a gpu needs its link)");
    link.checkKnown({"name", "bandwidth_gbs", "latency_us", "efficiency"});
    profile.linkName = link.string("name", /*required=*/false);
    profile.link = readMemory(link, /*withCapacity=*/false);
    profile.linkLatencyUs =
        link.number("latency_us", false, 0, /*allowZero=*/true);
  } else if (hasLink) {
    top.fail("link", "needs a gpu");
  }
  JsonFields cpu = top.object("cpu", hasCpu);
  if (!hasCpu)
    top.fail("cpu", "is missing");
  cpu.checkKnown(
      {"name", "bandwidth_gbs", "capacity_gb", "cores", "efficiency"});
  profile.cpuName = cpu.string("name", /*required=*/false);
  profile.cpu = readMemory(cpu, /*withCapacity=*/true);
  profile.cpuCores = cpu.integer("cores");
  if (Error error = top.takeError())
    return std::move(error);
  return profile;
}

Expected<HardwareProfile> mlir::hgc::loadHardwareProfile(StringRef nameOrPath) {
  for (const HardwareProfile &profile : getBuiltinProfiles())
    if (nameOrPath == profile.name)
      return profile;
  if (!sys::fs::exists(nameOrPath))
    return createStringError(
        inconvertibleErrorCode(),
        "unknown hardware profile '" + nameOrPath + "' (one of " +
            join(getHardwareProfileNames(), ", ") + ", or a JSON file's path)");
  ErrorOr<std::unique_ptr<MemoryBuffer>> file =
      MemoryBuffer::getFile(nameOrPath);
  if (!file)
    return createStringError(inconvertibleErrorCode(),
                             nameOrPath + ": " + file.getError().message());
  return parseHardwareProfile((*file)->getBuffer(), nameOrPath);
}
