//===- ModelCache.h - compiled model programs on disk -----------*- C++ -*-===//
//
// A directory of object files and manifests: per cache key (the model's
// bytes, its external data files' sizes and times, the compile options, the
// machine; see ModelSession) one manifest `<hash>.json` listing the programs
// compiled for it, each with its input signature, result types, parameter
// references and object file. Another process with the same key links the
// objects instead of compiling. Files are replaced atomically; a damaged or
// foreign manifest reads as empty (a compile, never an error).
//
//===----------------------------------------------------------------------===//

#ifndef HGC_TOOLS_SUPPORT_MODELCACHE_H
#define HGC_TOOLS_SUPPORT_MODELCACHE_H

#include "frontends/onnx/Importer.h"

#include "llvm/ADT/StringRef.h"

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mlir::hgc {

/// One compiled program as the cache stores it.
struct CachedProgram {
  std::string object; // file name inside the directory
  /// Per input; ShapedType::kDynamic: any size.
  std::vector<SmallVector<int64_t>> shapes;
  /// Values of the small integer inputs the code depends on.
  std::map<std::string, std::vector<int64_t>> values;
  std::set<std::string> dynamicDims;
  std::vector<std::string> resultTypes; // printed MLIR types
  std::vector<onnx::ModelParameter> parameters;
  /// Inputs fed as append buffers, in the order of their length arguments,
  /// with their axes; outputs written into them (output -> input index).
  std::vector<std::pair<std::string, int64_t>> appendBuffers;
  std::map<size_t, size_t> appendedOutputs;
};

class ModelCache {
public:
  ModelCache(std::string directory, std::string key);

  const std::string &getDirectory() const { return directory; }
  /// The programs stored under the key.
  std::vector<CachedProgram> read() const;
  /// Stores `program`, its object written by `writeObject(path)`. A
  /// directory that cannot be written costs later processes a compile.
  void add(CachedProgram program,
           const std::function<void(llvm::StringRef)> &writeObject);
  std::string getObjectPath(const CachedProgram &program) const;

private:
  std::string directory, key, manifest, stem;
};

} // namespace mlir::hgc

#endif // HGC_TOOLS_SUPPORT_MODELCACHE_H
