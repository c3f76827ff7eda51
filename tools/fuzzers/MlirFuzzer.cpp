//===- MlirFuzzer.cpp - libFuzzer entry for MLIR text ---------------------===//
//
// Feeds arbitrary text to what `hgc` and `hgc-opt` do with .mlir files: a
// module with @main goes through the StableHLO importer (parse, inline,
// raise attention, lower); any module that parses and verifies goes through
// the hybrid pipeline (place, split, transfers) and the host lowering. The
// seeds are the lit corpus. A crash, hang or sanitizer report is a bug: bad
// IR must be diagnostics.
//
//===----------------------------------------------------------------------===//

#include "codegen/Pipelines.h"
#include "exec/HostExecution.h"
#include "frontends/stablehlo/Importer.h"
#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstddef>
#include <cstdint>

using namespace mlir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static MLIRContext *context = [] {
    // What the tools parse (tools/support/ToolDialects.cpp).
    DialectRegistry registry;
    hgc::registerCompilerDialects(registry);
    registry.insert<hgc::shlo::ShloDialect>();
    auto *created = new MLIRContext(registry);
    created->loadAllAvailableDialects();
    created->disableMultithreading();
    return created;
  }();
  ScopedDiagnosticHandler silence(context,
                                  [](Diagnostic &) { return success(); });
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  // The StableHLO importer parses its own copy.
  (void)hgc::shlo::importStablehloBuffer(
      context, llvm::MemoryBuffer::getMemBufferCopy(text, "fuzz.mlir"));

  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(text, "fuzz.mlir"), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, context);
  if (!module || failed(verify(*module)))
    return 0;
  PassManager pm(context);
  hgc::PlacementOptions placement;
  placement.policy = "hgca";
  placement.window = 16;
  hgc::buildHybridPipeline(pm, placement);
  hgc::buildHostLoweringPipeline(pm);
  (void)pm.run(*module);
  return 0;
}
