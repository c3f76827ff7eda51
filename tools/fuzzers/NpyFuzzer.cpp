//===- NpyFuzzer.cpp - libFuzzer entry for the .npy reader ----------------===//
//
// Feeds arbitrary bytes to parseNpy, what `hgc run` and hgc-runner read
// inputs with. A crash, sanitizer report or an array whose data does not
// match its shape and dtype is a bug: bad files must be errors.
//
//===----------------------------------------------------------------------===//

#include "exec/Npy.h"

#include "llvm/Support/Error.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::Expected<mlir::hgc::NpyArray> array = mlir::hgc::parseNpy(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz.npy");
  if (!array) {
    llvm::consumeError(array.takeError());
    return 0;
  }
  // What the readers downstream rely on.
  int64_t element = mlir::hgc::getNpyElementSize(array->descr);
  if (element <= 0 || array->getNumElements() < 0 ||
      array->data.size() != size_t(array->getNumElements()) * size_t(element))
    std::abort();
  return 0;
}
