//===- CachedHostProgram.cpp - a module's program, compiled once ---------===//

#include "tools/support/CachedHostProgram.h"
#include "tools/support/ModelCache.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/xxhash.h"

using namespace mlir;
using namespace mlir::hgc;

std::string hgc::getFileHashKey(StringRef path) {
  auto bytes = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                           /*RequiresNullTerminator=*/false);
  if (!bytes)
    return "";
  return "hash=" + llvm::utohexstr(llvm::xxh3_64bits(
                       llvm::arrayRefFromStringRef((*bytes)->getBuffer())));
}

namespace {
/// The stored program's code, or null when it does not fit `main`
/// (another program under a colliding key) or its object is gone.
std::unique_ptr<HostProgram> loadStored(const ModelCache &cache,
                                        const CachedProgram &stored,
                                        func::FuncOp main) {
  if (stored.resultTypes.size() != main.getNumResults())
    return nullptr;
  SmallVector<RankedTensorType> resultTypes;
  for (auto [text, expected] :
       llvm::zip(stored.resultTypes, main.getResultTypes())) {
    auto type =
        dyn_cast_or_null<RankedTensorType>(parseType(text, main.getContext()));
    if (!type || type != expected)
      return nullptr;
    resultTypes.push_back(type);
  }
  auto code =
      HostProgram::load(cache.getObjectPath(stored), "main", resultTypes);
  if (!code) {
    llvm::consumeError(code.takeError());
    return nullptr;
  }
  return std::move(*code);
}
} // namespace

llvm::Expected<std::unique_ptr<HostProgram>>
hgc::getCachedHostProgram(ModuleOp module,
                          llvm::function_ref<LogicalResult(ModuleOp)> lower,
                          const TargetOptions &target, StringRef cacheDirectory,
                          StringRef key, bool &loaded) {
  loaded = false;
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main)
    return llvm::createStringError("no function @main");
  std::optional<ModelCache> cache;
  if (!cacheDirectory.empty()) {
    cache.emplace(cacheDirectory.str(), key.str());
    for (const CachedProgram &stored : cache->read())
      if (std::unique_ptr<HostProgram> code =
              loadStored(*cache, stored, main)) {
        loaded = true;
        return std::move(code);
      }
  }
  // The result types are @main's before lowering: what the stored program
  // is checked against by the next process.
  CachedProgram stored;
  for (Type type : main.getResultTypes()) {
    std::string text;
    llvm::raw_string_ostream(text) << type;
    stored.resultTypes.push_back(text);
  }
  for (Type type : main.getArgumentTypes())
    stored.shapes.emplace_back(cast<ShapedType>(type).getShape());
  if (failed(lower(module)))
    return llvm::createStringError(""); // reported as a diagnostic
  auto code = HostProgram::compile(module, "main", target,
                                   /*keepObject=*/cache.has_value());
  if (!code)
    return code.takeError();
  if (cache)
    cache->add(std::move(stored),
               [&](StringRef path) { (*code)->writeObject(path); });
  return code;
}
