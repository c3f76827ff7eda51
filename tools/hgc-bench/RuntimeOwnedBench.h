//===- RuntimeOwnedBench.h - steps over runtime-owned pages ---*- C++ -*-===//
//
// The engine path as an engine takes it through libhgc: a KV cache the
// runtime owns (pages of `pageTokens` tokens, appended in chunks), a kernel
// compiled for the attention configuration, hgc_decode per step.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_TOOLS_HGCBENCH_RUNTIMEOWNEDBENCH_H
#define HGC_TOOLS_HGCBENCH_RUNTIMEOWNEDBENCH_H

#include <cstdint>
#include <optional>
#include <string>

struct RuntimeOwnedRow {
  int64_t qHeads, kvHeads, headDim, batch, context;
  std::string dtype;             // f32 | f16 | bf16
  std::string policy;            // full | hgca | hca | quest | sparf
  std::string codebook = "int8"; // hca: int8, or pq<G>x<C> kept by the cache
  int64_t block = 0, sink = 0, window = 0, pageTokens = 16;
  double budget = 1;
};

/// The median milliseconds of one hgc_decode step, or nullopt (error
/// printed).
std::optional<double> timeRuntimeOwned(const RuntimeOwnedRow &row, int repeats);

#endif // HGC_TOOLS_HGCBENCH_RUNTIMEOWNEDBENCH_H
