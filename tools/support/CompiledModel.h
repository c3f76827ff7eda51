//===- CompiledModel.h - compiled-model folders (.hgcm) ---------*- C++ -*-===//
//
// `hgc compile model.onnx -o model.hgcm` writes a folder: the programs a
// ModelCache holds for the model, plus artifact.json naming the model, the
// options it was compiled with and the cache key. Opening the folder as a
// model (ModelSession::open, hgc_model_open, `hgc run`) runs those programs
// and compiles nothing.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_TOOLS_SUPPORT_COMPILEDMODEL_H
#define HGC_TOOLS_SUPPORT_COMPILEDMODEL_H

#include "tools/support/ModelSession.h"

namespace mlir::hgc {

/// Whether `path` is a compiled model (`hgc compile -o X.hgcm`): a folder
/// with the model's path, its options and the programs compiled for it.
/// ModelSession::open takes one for a model: it runs the stored programs
/// and compiles nothing.
bool isCompiledModel(StringRef path);

/// Compiles `model` with `options` for inputs of `shapes` (kDynamic: a
/// dimension that stays dynamic) into the compiled-model folder `directory`.
llvm::Error writeCompiledModel(StringRef directory, StringRef model,
                               const ModelOptions &options,
                               ArrayRef<SmallVector<int64_t>> shapes,
                               MLIRContext &context);

/// The model path and options of the compiled-model folder `directory`
/// (cache directory set, compiling off); `key` gets the key it was
/// compiled under. An error names the folder when it is not one or is
/// damaged.
llvm::Expected<std::pair<std::string, ModelOptions>>
readCompiledModel(StringRef directory, std::string &key);

} // namespace mlir::hgc

#endif // HGC_TOOLS_SUPPORT_COMPILEDMODEL_H
