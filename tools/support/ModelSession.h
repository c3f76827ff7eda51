//===- ModelSession.h - an ONNX model compiled once, run many times -*- C++
//-*-===//
//
// The model path of `hgc run` and of libhgc's hgc_model_* API, in
// onnxruntime's shape: open a model with placement and target options, then
// run feeds many times. Weights are parameters mapped from their files once
// per session (ImportOptions::parameterMinBytes). A program is compiled per
// input signature (shapes, and the values of the few integer inputs a
// result shape depends on) and kept: a loop that repeats a signature
// compiles once, and a named dimension that changes between runs (the
// past length of a decode loop) becomes dynamic where the model's ops allow.
//
// One thread at a time may run a session; sessions are independent.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_TOOLS_SUPPORT_MODELSESSION_H
#define HGC_TOOLS_SUPPORT_MODELSESSION_H

#include "exec/HostExecution.h"
#include "exec/MappedWeights.h"
#include "frontends/onnx/Importer.h"
#include "passes/PlacementOptions.h"
#include "tools/support/ModelCache.h"

#include "mlir/IR/MLIRContext.h"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mlir::hgc {

struct ModelOptions {
  PlacementOptions placement;
  TargetOptions lowering;
  int64_t parameterMinBytes = onnx::ImportOptions{}.parameterMinBytes;
  /// --shape: fixed shapes for inputs (checked against every feed).
  std::map<std::string, SmallVector<int64_t>> shapes;
  /// --dim: sizes of named symbolic dimensions, in every input.
  std::map<std::string, int64_t> dimSizes;
  /// Where compiled programs are kept for other processes (ModelCache);
  /// empty: nowhere.
  std::string cacheDirectory;
  /// False: a run whose signature no cached program serves is an error
  /// (a compiled artifact), not a compile.
  bool compileOnMiss = true;
  /// Whether cached programs are keyed on the compiler's build too (a cache
  /// that a rebuilt hgc must not reuse); false for compiled artifacts, whose
  /// code stays valid across builds of the same code ABI.
  bool keyOnCompilerBuild = true;
  /// Whether a past the graph appends to (GraphInput::appendAxis), fed as
  /// a view of a buffer with room after it along that axis, gets the new
  /// positions written into that buffer after it: the paired output is then
  /// a view of the same buffer, and the past is never copied. The buffer is
  /// the caller's; positions after the output's are left alone.
  bool appendInPlace = false;
};

/// One input's value: its numpy descriptor ("<f4", "<i8", ...), shape and
/// bytes in C order (borrowed for the call).
struct ModelFeed {
  std::string descr;
  TensorRef tensor;
  /// Element strides; empty: C order. Other layouts are copied to C order,
  /// except an append buffer (ModelOptions::appendInPlace).
  ArrayRef<int64_t> strides = {};
};

struct ModelRunStats {
  bool compiled = false; // this run compiled a program for its signature
  bool loaded = false;   // this run linked a program from the cache
  double compileSeconds = 0, runSeconds = 0;
  int64_t programs = 0; // programs compiled by the session so far
};

class ModelSession {
public:
  /// Reads the model's interface; compiles nothing yet. `context` reports
  /// import and compile diagnostics and must outlive the session.
  static llvm::Expected<std::unique_ptr<ModelSession>>
  open(MLIRContext &context, StringRef path, ModelOptions options);
  ~ModelSession();

  const std::vector<onnx::GraphInput> &getInputs() const { return inputs; }
  const std::vector<std::string> &getOutputNames() const { return outputs; }

  /// Runs the model on `feeds`, one per input in getInputs() order; fills
  /// `results`, one per output. A feed whose type or shape contradicts the
  /// model is an error naming the input.
  llvm::Error run(ArrayRef<ModelFeed> feeds, std::vector<ResultBuffer> &results,
                  ModelRunStats *stats = nullptr);
  /// "input 'NAME' expects float 1x?x8 (<f4), got ..." when feed `index`
  /// does not fit the model.
  llvm::Error checkFeed(size_t index, const ModelFeed &feed) const;
  /// Compiles (or finds) the program for inputs of `shapes` (one per input;
  /// ShapedType::kDynamic for a dimension that stays dynamic) and stores it
  /// in the cache: what `hgc compile -o X.hgcm` does.
  llvm::Error precompile(ArrayRef<SmallVector<int64_t>> shapes);
  /// The cache key: the model's bytes, its external data files' sizes and
  /// times, the options and the machine.
  const std::string &getCacheKey() const { return cacheKey; }

private:
  struct Program;
  ModelSession(MLIRContext &context, std::string path, ModelOptions options);
  /// What a program is compiled for.
  struct Signature {
    std::vector<SmallVector<int64_t>> shapes; // kDynamic: any size
    std::map<std::string, std::vector<int64_t>> values;
    std::set<std::string> dynamicDims;
    /// Inputs fed as append buffers (ImportOptions::appendBuffers).
    std::map<std::string, int64_t> appendBuffers;
  };
  /// Per feed: the capacity of the buffer it is a view of along its
  /// input's append axis when it is an append buffer with room
  /// (ModelOptions::appendInPlace), else 0.
  SmallVector<int64_t> getAppendCapacities(ArrayRef<ModelFeed> feeds) const;
  std::string
  makeCacheKey(const std::set<std::string> &externalDataFiles) const;
  Signature getSignature(ArrayRef<ModelFeed> feeds,
                         const std::set<std::string> &dynamic,
                         ArrayRef<int64_t> capacities) const;
  llvm::Expected<Program *> getProgram(ArrayRef<ModelFeed> feeds,
                                       ArrayRef<int64_t> capacities,
                                       ModelRunStats &stats);
  llvm::Expected<Program *> compileProgram(const Signature &signature,
                                           bool quietly);
  llvm::Expected<Program *> loadProgram(const CachedProgram &stored);
  llvm::Error bindParameters(Program &program);

  MLIRContext &context;
  std::string path;
  ModelOptions options;
  std::vector<onnx::GraphInput> inputs;
  std::vector<std::string> outputs;
  std::vector<std::unique_ptr<Program>> programs;
  std::string cacheKey;
  std::optional<ModelCache> cache;
  /// Named dimensions compiled dynamic, and the sets a dynamic compile
  /// failed for (not tried again).
  std::set<std::string> dynamicDims;
  std::set<std::set<std::string>> failedDynamicDims;
  MappedWeights weights;
};

/// The numpy descriptor of ONNX element type `type` ("" when none).
std::string getNpyDescrOfOnnxType(int32_t type);

} // namespace mlir::hgc

#endif // HGC_TOOLS_SUPPORT_MODELSESSION_H
