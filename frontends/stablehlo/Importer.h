//===- Importer.h - StableHLO (JAX's export) to hgc's input -----*- C++ -*-===//
//
// Reads a StableHLO module in either print form (`jax.jit(f).lower(...)
// .as_text()`, or the generic form of `compiler_ir('stablehlo')`) or as
// jax.export's bytecode (converted to text by jaxlib), checks
// it has an entry function, names its arguments and results, and lowers it
// to upstream dialects (hgc-lower-stablehlo): the same kind of module the
// ONNX importer produces, ready for hgc's pipelines.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_FRONTENDS_STABLEHLO_IMPORTER_H
#define HGC_FRONTENDS_STABLEHLO_IMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/Support/MemoryBuffer.h"

#include <string>
#include <vector>

namespace mlir::hgc::shlo {

struct ImportedProgram {
  OwningOpRef<ModuleOp> module;
  /// @main's arguments: their `jax.arg_info` names, else arg0, arg1, ...
  std::vector<std::string> inputNames;
  /// @main's results: their `jax.result_info` names, else out0, out1, ...
  std::vector<std::string> outputNames;
};

/// Whether `path` names StableHLO: text (.mlir) or bytecode (.mlirbc).
bool isStablehloPath(StringRef path);

/// Whether `path` names a serialized artifact (.mlirbc): a StableHLO
/// portable artifact or jax.export's serialization.
bool isStablehloBytecodePath(StringRef path);

/// The text of the artifact at `path`, converted by jaxlib's StableHLO
/// bindings ($HGC_PYTHON, else python3); null and `error` set when that
/// Python cannot (no jax, not an artifact). Bytecode.cpp.
std::unique_ptr<llvm::MemoryBuffer> readStablehloBytecode(StringRef path,
                                                          std::string &error);

/// Parses and lowers `path`; diagnostics (located in the file) go to the
/// context's handler.
FailureOr<ImportedProgram> importStablehloFile(MLIRContext *context,
                                               StringRef path);

/// importStablehloFile on text already read (named by the buffer's
/// identifier in diagnostics).
FailureOr<ImportedProgram>
importStablehloBuffer(MLIRContext *context,
                      std::unique_ptr<llvm::MemoryBuffer> buffer);

} // namespace mlir::hgc::shlo

#endif // HGC_FRONTENDS_STABLEHLO_IMPORTER_H
