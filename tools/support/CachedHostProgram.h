//===- CachedHostProgram.h - a module's program, compiled once -*- C++ -*-===//
//
// The compiled @main of a module whose inputs have static shapes (a
// StableHLO program), kept in a ModelCache under a key the caller makes:
// a later process with the same key links the object instead of lowering
// and compiling again. ModelSession does the same for ONNX models, whose
// programs also vary with input shapes and bound weights.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_TOOLS_SUPPORT_CACHEDHOSTPROGRAM_H
#define HGC_TOOLS_SUPPORT_CACHEDHOSTPROGRAM_H

#include "exec/HostExecution.h"

#include "mlir/IR/BuiltinOps.h"

#include <memory>
#include <string>

namespace mlir::hgc {

/// "hash=<xxh3 of the file's bytes>" ("" when it cannot be read): what a
/// cache key says about a model file.
std::string getFileHashKey(StringRef path);

/// @main of `module` for `target`: linked from `cacheDirectory` when a
/// program is stored under `key` (`loaded` set), else lowered by `lower`
/// (hgc's pipelines; a failure is reported as a diagnostic), compiled and
/// stored there. An empty `cacheDirectory` compiles every time.
llvm::Expected<std::unique_ptr<HostProgram>>
getCachedHostProgram(ModuleOp module,
                     llvm::function_ref<LogicalResult(ModuleOp)> lower,
                     const TargetOptions &target, StringRef cacheDirectory,
                     StringRef key, bool &loaded);

} // namespace mlir::hgc

#endif // HGC_TOOLS_SUPPORT_CACHEDHOSTPROGRAM_H
