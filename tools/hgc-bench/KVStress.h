//===- KVStress.h - hgc-bench kv-stress -------------------------*- C++ -*-===//

#ifndef HGC_TOOLS_HGCBENCH_KVSTRESS_H
#define HGC_TOOLS_HGCBENCH_KVSTRESS_H

#include <cstdint>
#include <string>

struct KVStressOptions {
  double seconds = 30; // bounded by default
  int64_t ops = 0;     // 0: until the time is up
  int threads = 4;
  std::string storageDir = "/tmp";
  int64_t farPages = 64;      // a far-memory tier between host and storage
  double farBandwidthGBs = 0; // > 0: its reads paced (an emulated link)
  double faultRate = 0;       // each fault of hgc-rt/faults.h at this rate
};

/// Runs the soak test; 0 when nothing was lost or corrupted.
int runKVStress(const KVStressOptions &options);

#endif // HGC_TOOLS_HGCBENCH_KVSTRESS_H
