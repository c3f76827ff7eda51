//===- CompiledCode.h - machine code of a lowered module --------*- C++ -*-===//
//
// What both the model sessions and libhgc's kernels run: a module in the
// LLVM dialect JIT-compiled by MLIR's ExecutionEngine (O3, the runtime
// libraries loaded), or an object file an earlier compile wrote, linked by
// ORC. Emulated GPU kernels of the code resolve to its host twins while it
// runs, whichever thread runs it.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_EXEC_COMPILEDCODE_H
#define HGC_EXEC_COMPILEDCODE_H

#include "codegen/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace llvm::orc {
class LLJIT;
} // namespace llvm::orc

namespace mlir::hgc {

class CompiledCode {
public:
  /// JIT-compiles `module` (lowered to the LLVM dialect); `keepObject`
  /// keeps the object file for writeObject.
  static llvm::Expected<std::unique_ptr<CompiledCode>>
  compile(ModuleOp module, bool keepObject = false);
  /// Links the object file at `path`.
  static llvm::Expected<std::unique_ptr<CompiledCode>>
  link(llvm::StringRef path);
  ~CompiledCode();

  /// The address of symbol `name`, or null.
  void *lookup(llvm::StringRef name);
  /// Calls func.func @`entry` through its packed wrapper (one pointer per
  /// argument word, then the results); GPU errors of the call are returned.
  llvm::Error invoke(llvm::StringRef entry, void **packedArguments);
  /// Writes the object file (compile with keepObject only).
  void writeObject(llvm::StringRef path);

private:
  /// An error of the GPU kernels' load, which ran in the code's
  /// constructors.
  llvm::Error takeLoadError();

  CompiledCode() = default;
  std::unique_ptr<ExecutionEngine> engine;
  std::unique_ptr<llvm::orc::LLJIT> linked;
  std::mutex mutex; // guards entries
  llvm::StringMap<void *> entries;
};

/// What makes machine code of one module differ between machines and
/// builds: the code ABI hgc's compiled code expects of the process, the
/// LLVM version, the target (and chip), the host CPU and its features.
std::string getMachineCodeKey(const TargetOptions &target);

/// Which build of hgc's compiler this is: a hash of the binary or shared
/// library holding it. Caches of compiled code key on it, so a rebuilt or
/// upgraded hgc never reuses code an earlier compiler made; compiled
/// artifacts (.hgcm) do not (their code stays valid across builds).
std::string getCompilerBuildKey();

/// Writes `path` atomically through `write(temporary path)`: readers see
/// the whole file or none. False when writing or renaming failed.
bool publishFile(const std::string &path,
                 const std::function<bool(const std::string &)> &write);

} // namespace mlir::hgc

#endif // HGC_EXEC_COMPILEDCODE_H
