//===- AttentionBench.h - hgc-bench attention -------------------*- C++ -*-===//
//
// Decode attention on the host, per shape: hgc's generated kernels (dense:
// --policy full; sparse: the hybrid split with a host budget) timed
// in-process, the machine's read bandwidth measured in the same run, and
// the peers (numpy, onnxruntime) through bench/attention_peers.py. Writes a
// table, and optionally JSON and a PNG plot.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_TOOLS_HGCBENCH_ATTENTIONBENCH_H
#define HGC_TOOLS_HGCBENCH_ATTENTIONBENCH_H

#include <string>

struct AttentionBenchOptions {
  bool quick = false; // a representative subset (< 5 minutes here)
  std::string json;   // rows as JSON, when set
  std::string plot;   // PNG plot, when set
  int repeats = 0;    // 0: per row, enough for a stable median
  bool peers = true;  // numpy / onnxruntime rows
  std::string only;   // rows whose policy/batch/context/kv contains this (or
                      // any of its comma-separated parts)
};

int runAttentionBench(const AttentionBenchOptions &options);

#endif // HGC_TOOLS_HGCBENCH_ATTENTIONBENCH_H
