//===- MappedWeights.cpp - model parameters read where they lie -----------===//

#include "exec/MappedWeights.h"

#include <cstring>

using namespace mlir;

llvm::Expected<const void *>
hgc::MappedWeights::get(llvm::StringRef file, uint64_t offset, uint64_t length,
                        uint64_t alignment, llvm::StringRef name) {
  auto fail = [&](const llvm::Twine &why) {
    return llvm::createStringError(std::make_error_code(std::errc::io_error),
                                   file + ": weight '" + name + "': " + why);
  };
  MappedFile &mapped = files[file];
  auto &region = mapped.region;
  if (!region) {
    if (std::error_code error = llvm::sys::fs::status(file, mapped.status))
      return fail(error.message());
    uint64_t size = mapped.status.getSize();
    if (size == 0)
      return fail("the file is empty");
    llvm::Expected<llvm::sys::fs::file_t> handle =
        llvm::sys::fs::openNativeFileForRead(file);
    if (!handle)
      return fail(llvm::toString(handle.takeError()));
    std::error_code error;
    // Copy-on-write: nothing compiled code does can reach the file.
    region = std::make_unique<llvm::sys::fs::mapped_file_region>(
        *handle, llvm::sys::fs::mapped_file_region::priv, size, 0, error);
    llvm::sys::fs::closeFile(*handle);
    if (error) {
      region.reset();
      return fail(error.message());
    }
  }
  if (offset > region->size() || length > region->size() - offset)
    return fail("needs bytes " + llvm::Twine(offset) + ".." +
                llvm::Twine(offset + length) + ", the file has " +
                llvm::Twine(region->size()) +
                " (truncated or changed since the model was written)");
  const char *bytes = region->const_data() + offset;
  if (reinterpret_cast<uintptr_t>(bytes) % alignment == 0)
    return static_cast<const void *>(bytes);
  void *copy = std::aligned_alloc(64, (length + 63) / 64 * 64);
  if (!copy)
    return fail("out of memory copying " + llvm::Twine(length) + " bytes");
  std::memcpy(copy, bytes, length);
  copies.emplace_back(copy);
  return static_cast<const void *>(copy);
}

llvm::Error hgc::MappedWeights::checkUnchanged() const {
  for (const auto &entry : files) {
    llvm::sys::fs::file_status now;
    const llvm::sys::fs::file_status &then = entry.second.status;
    if (!llvm::sys::fs::status(entry.first(), now) &&
        now.getSize() == then.getSize() &&
        now.getLastModificationTime() == then.getLastModificationTime())
      continue;
    return llvm::createStringError(
        std::make_error_code(std::errc::io_error),
        entry.first() + ": the weight file changed since it was mapped (" +
            llvm::Twine(then.getSize()) + " bytes then, " +
            llvm::Twine(now.getSize()) + " now): open the model again");
  }
  return llvm::Error::success();
}
