//===- hgc-opt.cpp - mlir-opt with the hgc dialect -----------------------===//
//
// The pass-development driver: every upstream dialect, pass and translation
// mlir-opt has, plus the hgc dialect and passes.
//
//===----------------------------------------------------------------------===//

#include "codegen/Passes.h"
#include "codegen/Pipelines.h"
#include "dialect/HgcDialect.h"
#include "frontends/stablehlo/Passes.h"
#include "frontends/stablehlo/StablehloDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::hgc::registerHgcPasses();
  mlir::hgc::registerHgcCodegenPasses();
  mlir::hgc::registerHgcStablehloPasses();
  mlir::hgc::registerHgcPipelines();
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary and the LLVM export need the IR translations.
  mlir::registerAllToLLVMIRTranslations(registry);
  registry.insert<mlir::hgc::HgcDialect, mlir::hgc::shlo::ShloDialect>();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "hgc optimizer driver: hybrid CPU-GPU attention\n",
      registry));
}
