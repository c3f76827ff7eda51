//===- Npy.cpp - NumPy .npy arrays ----------------------------------------===//

#include "exec/Npy.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir::hgc;
using llvm::StringRef;

int64_t mlir::hgc::getNpyElementSize(StringRef descr) {
  return llvm::StringSwitch<int64_t>(descr)
      .Case("<f8", 8)
      .Case("<i8", 8)
      .Case("<f4", 4)
      .Case("<i4", 4)
      .Case("<f2", 2)
      .Case("<u2", 2)
      .Case("<i2", 2)
      .Case("|b1", 1)
      .Case("|i1", 1)
      .Default(0);
}

int64_t NpyArray::getNumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

namespace {
llvm::Error malformed(StringRef path, const llvm::Twine &why) {
  return llvm::createStringError("%s: not a readable .npy file: %s",
                                 path.str().c_str(), why.str().c_str());
}

/// The quoted value after `'key':` in a header dict.
std::optional<StringRef> headerField(StringRef header, StringRef key) {
  size_t at = header.find(("'" + key + "'").str());
  if (at == StringRef::npos)
    return std::nullopt;
  StringRef rest = header.drop_front(at + key.size() + 2).ltrim(" :");
  return rest;
}
} // namespace

llvm::Expected<NpyArray> mlir::hgc::readNpy(StringRef path) {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!file)
    return llvm::createStringError("%s: %s", path.str().c_str(),
                                   file.getError().message().c_str());
  return parseNpy((*file)->getBuffer(), path);
}

llvm::Expected<NpyArray> mlir::hgc::parseNpy(StringRef bytes, StringRef path) {
  if (bytes.size() < 10 || !bytes.starts_with("\x93NUMPY"))
    return malformed(path, "missing the \\x93NUMPY magic");
  uint8_t major = bytes[6];
  size_t headerLength, headerStart;
  if (major == 1) {
    headerLength = uint8_t(bytes[8]) | (uint8_t(bytes[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return malformed(path, "truncated header");
    headerLength = uint8_t(bytes[8]) | (uint8_t(bytes[9]) << 8) |
                   (uint8_t(bytes[10]) << 16) |
                   (size_t(uint8_t(bytes[11])) << 24);
    headerStart = 12;
  } else {
    return malformed(path, "unknown version " + llvm::Twine(int(major)));
  }
  if (bytes.size() < headerStart + headerLength)
    return malformed(path, "truncated header");
  StringRef header = bytes.substr(headerStart, headerLength);

  NpyArray array;
  std::optional<StringRef> descr = headerField(header, "descr");
  if (!descr || !descr->consume_front("'"))
    return malformed(path, "no 'descr'");
  array.descr = descr->take_until([](char c) { return c == '\''; }).str();
  if (array.descr == "<b1" || array.descr == "=b1")
    array.descr = "|b1";
  if (getNpyElementSize(array.descr) == 0)
    return malformed(path, "unsupported dtype '" + array.descr + "'");
  std::optional<StringRef> fortran = headerField(header, "fortran_order");
  if (!fortran || !fortran->starts_with("False"))
    return malformed(path, "only C-order arrays are supported");
  std::optional<StringRef> shape = headerField(header, "shape");
  if (!shape || !shape->consume_front("("))
    return malformed(path, "no 'shape'");
  StringRef dims = shape->take_until([](char c) { return c == ')'; });
  llvm::SmallVector<StringRef> parts;
  dims.split(parts, ',', -1, /*KeepEmpty=*/false);
  // The byte count in 64 bits, each step checked: a shape whose product
  // wraps around would otherwise match a short payload.
  uint64_t size = uint64_t(getNpyElementSize(array.descr));
  for (StringRef part : parts) {
    int64_t dim;
    if (part.trim().getAsInteger(10, dim) || dim < 0)
      return malformed(path, "bad shape '(" + dims + ")'");
    if (dim != 0 && size > uint64_t(INT64_MAX) / uint64_t(dim))
      return malformed(path, "shape '(" + dims + ")' is too large");
    size *= uint64_t(dim);
    array.shape.push_back(dim);
  }
  StringRef payload = bytes.drop_front(headerStart + headerLength);
  if (payload.size() != size)
    return malformed(path, "expected " + llvm::Twine(size) +
                               " data bytes, found " +
                               llvm::Twine(payload.size()));
  array.data.assign(payload.begin(), payload.end());
  return array;
}

llvm::Error mlir::hgc::writeNpy(StringRef path, const NpyArray &array) {
  return writeNpy(path, array.descr, array.shape, array.data.data(),
                  array.data.size());
}

llvm::Error mlir::hgc::writeNpy(StringRef path, StringRef descr,
                                llvm::ArrayRef<int64_t> shape, const char *data,
                                size_t bytes) {
  std::string dict =
      "{'descr': '" + descr.str() + "', 'fortran_order': False, 'shape': (";
  // numpy spells a 1-D shape "(5,)".
  for (auto [i, dim] : llvm::enumerate(shape))
    dict += (i ? ", " : "") + std::to_string(dim);
  dict += shape.size() == 1 ? ",), }" : "), }";
  // Magic (6) + version (2) + length (2) + header, padded to 64 bytes.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::error_code error;
  llvm::raw_fd_ostream os(path, error, llvm::sys::fs::OF_None);
  if (error)
    return llvm::createStringError("%s: %s", path.str().c_str(),
                                   error.message().c_str());
  os << "\x93NUMPY" << char(1) << char(0) << char(dict.size() & 0xff)
     << char(dict.size() >> 8) << dict;
  os.write(data, bytes);
  return llvm::Error::success();
}
