//===- MappedWeights.h - model parameters read where they lie ---*- C++ -*-===//
//
// Compiled models take their large weights as arguments (see
// ImportOptions::parameterMinBytes). This maps each weight file once,
// copy-on-write, and hands out pointers into it; a tensor whose bytes are
// not aligned to its element size is copied once into aligned memory.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_EXEC_MAPPEDWEIGHTS_H
#define HGC_EXEC_MAPPEDWEIGHTS_H

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"

#include <cstdlib>
#include <memory>
#include <vector>

namespace mlir::hgc {

class MappedWeights {
public:
  /// The bytes [offset, offset + length) of `file` for tensor `name`,
  /// aligned to `alignment`; an error names the file and the tensor when the
  /// file cannot be mapped or is too short (error code io_error).
  llvm::Expected<const void *> get(llvm::StringRef file, uint64_t offset,
                                   uint64_t length, uint64_t alignment,
                                   llvm::StringRef name);
  /// An error naming the first mapped file whose size or modification time
  /// changed since it was mapped (reading a truncated mapping would crash;
  /// rewritten bytes would be read half old, half new).
  llvm::Error checkUnchanged() const;

private:
  struct FreeDeleter {
    void operator()(void *p) const { std::free(p); }
  };
  struct MappedFile {
    std::unique_ptr<llvm::sys::fs::mapped_file_region> region;
    llvm::sys::fs::file_status status;
  };
  llvm::StringMap<MappedFile> files;
  std::vector<std::unique_ptr<void, FreeDeleter>> copies;
};

} // namespace mlir::hgc

#endif // HGC_EXEC_MAPPEDWEIGHTS_H
