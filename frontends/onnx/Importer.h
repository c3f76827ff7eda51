//===- Importer.h - ONNX models to MLIR -------------------------*- C++ -*-===//
//
// Imports an ONNX graph as one func.func: graph inputs (not initializers)
// become arguments in order, graph outputs results. Attention ops become
// hgc.attention; everything else lowers to upstream dialects (linalg,
// tensor, arith, math) so whole graphs run. Shape arithmetic is evaluated
// at import time (on symbolic sizes where dims are dynamic). Unsupported
// ops and invalid nodes are errors located at the node (its name or index,
// and op type), never skipped.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_FRONTENDS_ONNX_IMPORTER_H
#define HGC_FRONTENDS_ONNX_IMPORTER_H

#include "frontends/onnx/OnnxModel.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/ADT/SmallVector.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace mlir::hgc::onnx {

struct ImportOptions {
  /// Shapes for graph inputs, by name: fill symbolic dimensions (and must
  /// agree with the fixed ones).
  std::map<std::string, llvm::SmallVector<int64_t>> inputShapes;
  /// Values of (small, integer) graph inputs for this compilation, by name:
  /// read only where a result shape depends on one (GroupQueryAttention's
  /// total_sequence_length). The code is then specific to those values.
  std::map<std::string, std::vector<int64_t>> knownInputValues;
  /// Sizes of symbolic dimensions by name (dim_param), for every input that
  /// names them (onnxruntime's free dimension overrides).
  std::map<std::string, int64_t> dimSizes;
  /// Symbolic dimensions (dim_param names) that stay dynamic in the code,
  /// whatever inputShapes says: one compile serves every size. Only ops
  /// whose emitters take dynamic sizes may read them; any other is an
  /// error naming the node (the caller then specializes).
  std::set<std::string> dynamicDims;
  /// Name of the generated function.
  std::string entry = "main";
  /// Initializers of at least this many bytes become parameters (function
  /// arguments bound to their file bytes when the model is loaded) instead
  /// of IR constants, so compile time and memory do not grow with weights.
  /// Negative: every initializer is a constant.
  int64_t parameterMinBytes = 64 << 10;
  /// Past inputs given as buffers with room after their positions, by name:
  /// the axis that grows (GraphInput::appendAxis). The argument is the
  /// whole buffer (the axis dynamic: its capacity) and a `tensor<i64>`
  /// argument after the parameters holds the positions in use, which are
  /// the input's value. An append to it (a Concat after it, an attention's
  /// present) writes the new positions into the buffer after them instead
  /// of copying the past (ImportedModel::appendedOutputs).
  std::map<std::string, int64_t> appendBuffers;
};

/// An initializer the compiled code reads where it lies in a file: the
/// function's argument number inputNames.size() + its index.
struct ModelParameter {
  std::string name;
  int32_t type; // ONNX element type
  llvm::SmallVector<int64_t> shape;
  TensorBytes bytes; // the model file (raw_data) or an external data file
};

struct ImportedModel {
  OwningOpRef<ModuleOp> module;
  std::vector<std::string> inputNames;    // the function's arguments, in order
  std::vector<std::string> outputNames;   // its results, in order
  std::vector<ModelParameter> parameters; // arguments after the inputs
  /// The inputs of ImportOptions::knownInputValues the code depends on.
  std::set<std::string> usedKnownInputs;
  /// Outputs written into an append buffer, by output index: the input
  /// whose buffer holds them. The function returns their length along the
  /// axis (`tensor<i64>`) in their place.
  std::map<size_t, size_t> appendedOutputs;
  /// ImportOptions::appendBuffers' inputs in input order: one length
  /// argument each after the parameters.
  std::vector<std::string> appendBufferInputs;
};

/// Reads and imports the model at `path`. Errors are reported through the
/// context's diagnostic handler; returns failure after reporting.
FailureOr<ImportedModel> importOnnxFile(MLIRContext *context,
                                        const std::string &path,
                                        const ImportOptions &options);

/// Imports a serialized model held in memory; `name` stands for its path
/// (messages, external data relative to its folder).
FailureOr<ImportedModel> importOnnxBuffer(MLIRContext *context,
                                          llvm::StringRef bytes,
                                          const std::string &name,
                                          const ImportOptions &options);

/// The graph inputs of the model at `path` (excluding initializers) with
/// their declared shapes (-1 for symbolic dimensions) and ONNX element types.
struct GraphInput {
  std::string name;
  llvm::SmallVector<int64_t> shape;
  int32_t type;
  /// Per dimension: its symbolic name (dim_param), "" when it has none.
  llvm::SmallVector<std::string> dimNames;
  /// A past that the graph returns with new positions appended along
  /// `appendAxis` (a Concat of it and another value, an attention's past
  /// and present) as output `appendOutput`; -1 when it is not one. Such an
  /// input may be given as a buffer with room (ImportOptions::appendBuffers).
  int64_t appendAxis = -1, appendOutput = -1;
};
/// The inputs `graph` declares, minus initializers.
std::vector<GraphInput> declaredInputs(const ::onnx::GraphProto &graph);
FailureOr<std::vector<GraphInput>> readGraphInputs(MLIRContext *context,
                                                   const std::string &path);

/// What a caller of the model needs before compiling it: its inputs, its
/// outputs' names, and the external data files it reads (as written in the
/// model, relative to its folder).
struct GraphInterface {
  std::vector<GraphInput> inputs;
  std::vector<std::string> outputNames;
  std::set<std::string> externalDataFiles;
};
FailureOr<GraphInterface> readGraphInterface(MLIRContext *context,
                                             const std::string &path);

} // namespace mlir::hgc::onnx

#endif // HGC_FRONTENDS_ONNX_IMPORTER_H
