//===- Npy.h - NumPy .npy arrays --------------------------------*- C++ -*-===//
//
// Reads and writes the .npy format (version 1-3, C order) for the element
// types hgc programs exchange. bf16 travels as '<u2' (its raw bits), the way
// numpy code without a bfloat16 dtype stores it.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_EXEC_NPY_H
#define HGC_EXEC_NPY_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::hgc {

struct NpyArray {
  /// numpy dtype descriptor: "<f4", "<f2", "<u2", "<f8", "<i4", "<i8", "|b1".
  std::string descr;
  llvm::SmallVector<int64_t> shape;
  std::vector<char> data;

  int64_t getNumElements() const;
};

/// Bytes per element of a supported descriptor, or 0 if unsupported.
int64_t getNpyElementSize(llvm::StringRef descr);

llvm::Expected<NpyArray> readNpy(llvm::StringRef path);
/// The array the .npy `bytes` hold; errors name `path`.
llvm::Expected<NpyArray> parseNpy(llvm::StringRef bytes, llvm::StringRef path);
llvm::Error writeNpy(llvm::StringRef path, const NpyArray &array);
/// Writes `bytes` of C-order data of `descr` and `shape`.
llvm::Error writeNpy(llvm::StringRef path, llvm::StringRef descr,
                     llvm::ArrayRef<int64_t> shape, const char *data,
                     size_t bytes);

} // namespace mlir::hgc

#endif // HGC_EXEC_NPY_H
