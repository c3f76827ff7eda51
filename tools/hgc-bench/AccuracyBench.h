//===- AccuracyBench.h - hgc-bench accuracy ---------------------*- C++ -*-===//
//
// How close each placement's decode step stays to exact attention, and what
// it reads for it: bench/accuracy.py (synthetic regimes, all-MiniLM-L6-v2's
// real attention, the bundled model's step) run through this build's
// libhgc, with the repository's Python environment.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_TOOLS_HGCBENCH_ACCURACYBENCH_H
#define HGC_TOOLS_HGCBENCH_ACCURACYBENCH_H

#include <string>

struct AccuracyBenchOptions {
  std::string contexts = "8192";                    // synthetic contexts
  std::string workloads = "synthetic,minilm,llama"; // which to run
  int minilmWindows = 4;                            // 512-token windows
  std::string json, markdown, plot;                 // outputs, when set
  std::string buildDir;                             // this build (libhgc)
};

int runAccuracyBench(const AccuracyBenchOptions &options);

#endif // HGC_TOOLS_HGCBENCH_ACCURACYBENCH_H
