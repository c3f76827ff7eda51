//===- Importer.cpp - StableHLO text (JAX's export) to hgc's input --------===//

#include "frontends/stablehlo/Importer.h"
#include "frontends/stablehlo/Passes.h"
#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;
using namespace mlir::hgc;

bool shlo::isStablehloPath(StringRef path) {
  return path.ends_with(".mlir") || isStablehloBytecodePath(path);
}

/// `attr` of each entry of `attrs` (arg or result attributes), else
/// `prefix` and its position.
static std::vector<std::string> namesOf(ArrayAttr attrs, size_t count,
                                        StringRef attr, StringRef prefix) {
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) {
    std::string name = (prefix + std::to_string(i)).str();
    if (attrs && i < attrs.size())
      if (auto dict = dyn_cast<DictionaryAttr>(attrs[i]))
        if (auto info = dict.getAs<StringAttr>(attr);
            info && !info.getValue().empty())
          name = info.getValue().str();
    names.push_back(name);
  }
  return names;
}

FailureOr<shlo::ImportedProgram> shlo::importStablehloFile(MLIRContext *context,
                                                           StringRef path) {
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> buffer =
      isStablehloBytecodePath(path) && llvm::sys::fs::exists(path)
          ? readStablehloBytecode(path, error)
          : openInputFile(path, &error);
  if (!buffer)
    return emitError(UnknownLoc::get(context)) << path << ": " << error,
           failure();
  return importStablehloBuffer(context, std::move(buffer));
}

FailureOr<shlo::ImportedProgram>
shlo::importStablehloBuffer(MLIRContext *context,
                            std::unique_ptr<llvm::MemoryBuffer> buffer) {
  context->loadDialect<ShloDialect, func::FuncDialect>();
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, context);
  if (!module)
    return failure();
  auto main = module->lookupSymbol<func::FuncOp>("main");
  if (!main || main.isExternal())
    return emitError(module->getLoc())
               << "no function @main to compile (JAX names its entry main)",
           failure();
  ImportedProgram program;
  program.inputNames = namesOf(main.getArgAttrsAttr(), main.getNumArguments(),
                               "jax.arg_info", "arg");
  program.outputNames = namesOf(main.getResAttrsAttr(), main.getNumResults(),
                                "jax.result_info", "out");
  // Composites (jax.lax.composite) are their decompositions; with the
  // helpers inlined first, attention inside them is raised too.
  shlo::callDecompositions(*module);
  PassManager pm(context);
  // Helpers inlined first: JAX's masks are built in @_where and @tril.
  pm.addPass(createInlinerPass());
  pm.addPass(createSymbolDCEPass());
  pm.addPass(createRaiseStablehloAttentionPass());
  pm.addPass(createLowerStablehloPass());
  if (failed(pm.run(*module)) || failed(verify(*module)))
    return failure();
  program.module = std::move(module);
  return program;
}
