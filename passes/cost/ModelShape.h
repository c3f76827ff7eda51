//===- ModelShape.h - what a decoder's KV and weights weigh -----*- C++ -*-===//
//
// The throughput model's view of a model: layers, heads, head dim, the KV
// dtype and the parameter count. Built in for a few published decoders,
// read from a JSON file or from NAME=VALUE items on the command line.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_COST_MODELSHAPE_H
#define HGC_PASSES_COST_MODELSHAPE_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::hgc {

/// The decoder's shape: what its KV and weights weigh.
struct ModelShape {
  std::string name;
  int64_t layers = 0, qHeads = 0, kvHeads = 0, headDim = 0;
  std::string kvDtype = "f16"; // f32, f16 or bf16 (weights in the same)
  double parameters = 0;

  int64_t getElementBytes() const { return kvDtype == "f32" ? 4 : 2; }
  /// Keys and values of one token in one layer.
  double getKVBytesPerToken() const {
    return 2.0 * double(kvHeads * headDim * getElementBytes());
  }
  double getWeightBytes() const {
    return parameters * double(getElementBytes());
  }
};

/// The built-in model configurations' names.
std::vector<std::string> getModelShapeNames();
/// A built-in configuration (llama-3-8b, ...), a JSON file, or fields inline
/// ("layers=32,q_heads=32,kv_heads=8,head_dim=128,kv_dtype=f16,
/// parameters=8.03e9"); a one-line error otherwise.
llvm::Expected<ModelShape> loadModelShape(llvm::StringRef spec);

} // namespace mlir::hgc

#endif // HGC_PASSES_COST_MODELSHAPE_H
