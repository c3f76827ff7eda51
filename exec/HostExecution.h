//===- HostExecution.h - JIT-run an hgc function on .npy arrays -*- C++ -*-===//
//
// The one place that turns a lowered module into running code for the
// tools: checks .npy inputs against the entry function's signature, lowers
// through the host pipeline, JIT-compiles with MLIR's ExecutionEngine
// (LLVM's libomp and the C runner utils loaded) and returns every result as
// an array. hgc-runner and `hgc run` share it.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_EXEC_HOSTEXECUTION_H
#define HGC_EXEC_HOSTEXECUTION_H

#include "codegen/Pipelines.h"
#include "exec/Npy.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"

#include <utility>
#include <vector>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace mlir::hgc {
class CompiledCode;
} // namespace mlir::hgc

namespace mlir::hgc {

/// Every dialect hgc's pipelines produce or consume (upstream's and hgc's),
/// and their LLVM IR translations; frontends add their own dialects.
void registerCompilerDialects(DialectRegistry &registry);

/// The .npy descriptor that carries `type`, or "" when none does.
std::string getNpyDescr(Type type);

/// "2x3x4 (<f4)".
std::string describeArray(ArrayRef<int64_t> shape, StringRef descr);

/// An error naming `name` when `array` does not fit `type` (static dims must
/// match, dynamic ones take any size).
llvm::Error checkInput(StringRef name, Type type, const NpyArray &array);

/// The .npy file `path` as the value of argument `name` of `type`: an
/// error naming the file when it cannot be read or does not fit.
llvm::Expected<NpyArray> readInput(StringRef name, Type type, StringRef path);

/// The shared libraries generated code calls: MLIR's C runner utils,
/// LLVM's libomp and the hgc runtime (found where this process loaded it).
SmallVector<std::string> getRuntimeLibraryPaths();

/// JIT-compiles `module` (lowered to the LLVM dialect) at O3 with the
/// runtime libraries loaded; `enableObjectDump` keeps the object file for
/// ExecutionEngine::dumpToObjectFile.
llvm::Expected<std::unique_ptr<ExecutionEngine>>
createHostEngine(ModuleOp module, bool enableObjectDump = false);

/// An argument's bytes (C order, the element type of its parameter) and
/// shape; not owned.
struct TensorRef {
  const void *data;
  ArrayRef<int64_t> shape;
};

/// A result of compiled code, in C order, owning its buffer (released with
/// hgc_rt_host_free): the buffer the code allocated when the result is one,
/// else a copy.
class ResultBuffer {
public:
  ResultBuffer(std::string descr, ArrayRef<int64_t> shape, void *owned,
               const char *data, size_t bytes)
      : descr(std::move(descr)), shape(shape.begin(), shape.end()),
        owned(owned), data(data), bytes(bytes) {}
  /// A result that is a view of the caller's memory (an append buffer's
  /// present): `strides` in elements, nothing owned.
  static ResultBuffer view(std::string descr, ArrayRef<int64_t> shape,
                           ArrayRef<int64_t> strides, const char *data,
                           size_t elementBytes);
  ResultBuffer(ResultBuffer &&other) { *this = std::move(other); }
  ResultBuffer &operator=(ResultBuffer &&other);
  ~ResultBuffer();

  StringRef getDescr() const { return descr; }
  ArrayRef<int64_t> getShape() const { return shape; }
  const char *getData() const { return data; }
  /// The elements' bytes (C order, or `getStrides()` apart).
  size_t getByteSize() const { return bytes; }
  /// Element strides of a view; empty: C order.
  ArrayRef<int64_t> getStrides() const { return strides; }
  /// Gives the buffer up: the caller releases it with hgc_rt_host_free.
  void *release() { return std::exchange(owned, nullptr); }
  NpyArray toNpy() const;

private:
  std::string descr;
  SmallVector<int64_t> shape, strides;
  void *owned = nullptr;
  const char *data = nullptr;
  size_t bytes = 0;
};

/// Copies the elements of `source` (`shape`, element `strides`) to
/// `target` in C order.
void packStrided(const char *source, ArrayRef<int64_t> shape,
                 ArrayRef<int64_t> strides, size_t elementBytes, char *target);

/// A function lowered for the host and JIT-compiled once, run many times.
class HostProgram {
public:
  /// Lowers `module` (already through any hgc pipelines) for `target` and
  /// JIT-compiles it (LLVM's libomp, the C runner utils and the hgc runtime
  /// loaded). Target nvptx launches its kernels through the runtime's mgpu*
  /// entry points: on the GPU, or emulated on the host where there is none.
  static llvm::Expected<std::unique_ptr<HostProgram>>
  compile(ModuleOp module, StringRef entry,
          const TargetOptions &target = TargetOptions{},
          bool keepObject = false);
  /// The entry of an object file a compile wrote (writeObject), whose
  /// results have `resultTypes`.
  static llvm::Expected<std::unique_ptr<HostProgram>>
  load(StringRef objectPath, StringRef entry,
       ArrayRef<RankedTensorType> resultTypes);
  /// Writes the object file (compiled with keepObject).
  void writeObject(StringRef path);
  ArrayRef<RankedTensorType> getResultTypes() const { return resultTypes; }
  ~HostProgram();
  /// Runs the entry on `inputs`, one per argument (checked by the caller);
  /// fills `outputs`, one per result.
  llvm::Error run(std::vector<NpyArray> &inputs,
                  std::vector<NpyArray> &outputs);
  /// The same over borrowed arguments (inputs, then bound parameters).
  llvm::Error run(ArrayRef<TensorRef> arguments,
                  std::vector<NpyArray> &outputs);
  /// The same, handing over the buffers the code returned (no copy).
  llvm::Error run(ArrayRef<TensorRef> arguments,
                  std::vector<ResultBuffer> &outputs);

private:
  HostProgram() = default;
  std::string entry;
  SmallVector<RankedTensorType> resultTypes;
  std::unique_ptr<CompiledCode> code;
};

} // namespace mlir::hgc

#endif // HGC_EXEC_HOSTEXECUTION_H
