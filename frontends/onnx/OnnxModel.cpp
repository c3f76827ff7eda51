//===- OnnxModel.cpp - reading ONNX protobufs ----------------------------===//

#include "frontends/onnx/OnnxModel.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <google/protobuf/io/coded_stream.h>

#include <cstring>

using namespace mlir::hgc::onnx;

bool mlir::hgc::onnx::parseModel(llvm::StringRef bytes,
                                 ::onnx::ModelProto &model,
                                 std::string &error) {
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t *>(bytes.data()), int(bytes.size()));
  // Models with weights inline may exceed protobuf's 64 MiB default.
  stream.SetTotalBytesLimit(INT32_MAX);
  if (bytes.size() > size_t(INT32_MAX) ||
      !model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage()) {
    error = "not a valid ONNX model (malformed or truncated protobuf)";
    return false;
  }
  if (!model.has_graph()) {
    error = "the model has no graph";
    return false;
  }
  return true;
}

bool mlir::hgc::onnx::loadModel(const std::string &path,
                                ::onnx::ModelProto &model, std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer) {
    error = buffer.getError().message();
    return false;
  }
  return parseModel((*buffer)->getBuffer(), model, error);
}

size_t mlir::hgc::onnx::getElementByteSize(int32_t type) {
  switch (type) {
  case kBool:
  case kUInt8:
  case kInt8:
    return 1;
  case kInt16:
  case kFloat16:
  case kBFloat16:
    return 2;
  case kFloat:
  case kInt32:
  case kUInt32:
    return 4;
  case kDouble:
  case kInt64:
  case kUInt64:
    return 8;
  default:
    return 0;
  }
}

namespace {
double halfBitsToDouble(uint16_t bits, int32_t type) {
  if (type == kBFloat16) {
    uint32_t wide = uint32_t(bits) << 16;
    float f;
    std::memcpy(&f, &wide, 4);
    return f;
  }
  llvm::APFloat f(llvm::APFloat::IEEEhalf(), llvm::APInt(16, bits));
  bool lost;
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &lost);
  return f.convertToDouble();
}

/// Decodes little-endian `bytes` of `type` into `tensor`.
void decodeRaw(const char *bytes, HostTensor &tensor) {
  size_t width = getElementByteSize(tensor.type);
  for (int64_t i = 0, e = tensor.size(); i < e; ++i) {
    const char *at = bytes + i * width;
    switch (tensor.type) {
    case kFloat: {
      float f;
      std::memcpy(&f, at, 4);
      tensor.floats[i] = f;
      break;
    }
    case kDouble:
      std::memcpy(&tensor.floats[i], at, 8);
      break;
    case kFloat16:
    case kBFloat16: {
      uint16_t bits;
      std::memcpy(&bits, at, 2);
      tensor.floats[i] = halfBitsToDouble(bits, tensor.type);
      break;
    }
    default: {
      int64_t value = 0;
      std::memcpy(&value, at, width);
      // Sign-extend signed types narrower than 64 bits.
      if (width < 8 && tensor.type != kUInt8 && tensor.type != kUInt32 &&
          tensor.type != kBool)
        value = (value << (64 - 8 * width)) >> (64 - 8 * width);
      tensor.ints[i] = value;
    }
    }
  }
}
} // namespace

int64_t mlir::hgc::onnx::getTensorByteSize(const ::onnx::TensorProto &proto) {
  llvm::SmallVector<int64_t> shape(proto.dims().begin(), proto.dims().end());
  int64_t count = countElements(shape);
  size_t width = getElementByteSize(proto.data_type());
  if (count < 0 || !width || count > INT64_MAX / int64_t(width))
    return -1;
  return count * int64_t(width);
}

bool mlir::hgc::onnx::locateExternalData(const ::onnx::TensorProto &proto,
                                         const std::string &baseDir,
                                         TensorBytes &where,
                                         std::string &error) {
  std::string name = "tensor '" + proto.name() + "'";
  int64_t need = getTensorByteSize(proto);
  if (need < 0) {
    error = name + " has invalid dims or an unsupported element type";
    return false;
  }
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto &entry : proto.external_data()) {
    if (entry.key() == "location")
      location = entry.value();
    else if (entry.key() == "offset")
      offset = std::atoll(entry.value().c_str());
    else if (entry.key() == "length")
      length = std::atoll(entry.value().c_str());
  }
  // Like ONNX's checker: a relative path inside the model's folder, to a
  // regular file (never a device or a directory).
  if (location.empty() || llvm::sys::path::is_absolute(location) ||
      llvm::is_contained(llvm::make_range(llvm::sys::path::begin(location),
                                          llvm::sys::path::end(location)),
                         "..")) {
    error = name + ": external data location '" + location +
            "' must be a relative path inside the model's folder";
    return false;
  }
  llvm::SmallString<256> path(baseDir);
  llvm::sys::path::append(path, location);
  uint64_t fileSize = 0;
  if (!llvm::sys::fs::is_regular_file(path) ||
      llvm::sys::fs::file_size(path, fileSize)) {
    error = name + ": external data '" + std::string(path) +
            "' is not a readable file";
    return false;
  }
  if (length >= 0 && length != need) {
    error = name + " has " + std::to_string(length) +
            " bytes of external data, its dims and type need " +
            std::to_string(need);
    return false;
  }
  if (offset < 0 || uint64_t(offset) > fileSize ||
      uint64_t(need) > fileSize - uint64_t(offset)) {
    error = name + ": external data '" + std::string(path) + "' has " +
            std::to_string(fileSize) + " bytes, the tensor needs bytes " +
            std::to_string(offset) + ".." + std::to_string(offset + need);
    return false;
  }
  where.file = std::string(path);
  where.offset = uint64_t(offset);
  where.length = uint64_t(need);
  return true;
}

namespace {
/// Reads one protobuf varint at `at`; false past `end`.
bool readVarint(const uint8_t *&at, const uint8_t *end, uint64_t &value) {
  value = 0;
  for (int shift = 0; shift < 64 && at < end; shift += 7) {
    uint8_t byte = *at++;
    value |= uint64_t(byte & 0x7f) << shift;
    if (!(byte & 0x80))
      return true;
  }
  return false;
}

/// Calls `field(number, begin, end)` for each length-delimited field of the
/// message in [begin, end), skipping the others; false when malformed.
template <typename Fn>
bool forEachBytesField(const uint8_t *begin, const uint8_t *end, Fn field) {
  const uint8_t *at = begin;
  while (at < end) {
    uint64_t tag, size;
    if (!readVarint(at, end, tag))
      return false;
    switch (tag & 7) {
    case 0:
      if (!readVarint(at, end, size))
        return false;
      break;
    case 1:
      at += 8;
      break;
    case 5:
      at += 4;
      break;
    case 2:
      if (!readVarint(at, end, size) || size > uint64_t(end - at))
        return false;
      field(tag >> 3, at, at + size);
      at += size;
      break;
    default:
      return false;
    }
  }
  return at == end;
}
} // namespace

llvm::StringMap<TensorBytes>
mlir::hgc::onnx::findInitializerRawData(llvm::StringRef modelBytes) {
  // ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.name = 8,
  // TensorProto.raw_data = 9 (onnx.proto).
  llvm::StringMap<TensorBytes> found;
  auto *base = reinterpret_cast<const uint8_t *>(modelBytes.data());
  forEachBytesField(
      base, base + modelBytes.size(),
      [&](uint64_t field, const uint8_t *graph, const uint8_t *graphEnd) {
        if (field != 7)
          return;
        forEachBytesField(
            graph, graphEnd,
            [&](uint64_t field, const uint8_t *tensor,
                const uint8_t *tensorEnd) {
              if (field != 5)
                return;
              std::string name;
              TensorBytes raw;
              bool hasRaw = false;
              forEachBytesField(
                  tensor, tensorEnd,
                  [&](uint64_t field, const uint8_t *at, const uint8_t *end) {
                    if (field == 8)
                      name.assign(reinterpret_cast<const char *>(at), end - at);
                    if (field == 9) {
                      raw.offset = uint64_t(at - base);
                      raw.length = uint64_t(end - at);
                      hasRaw = true;
                    }
                  });
              if (hasRaw)
                found[name] = raw;
            });
      });
  return found;
}

bool mlir::hgc::onnx::readTensor(const ::onnx::TensorProto &proto,
                                 const std::string &baseDir, HostTensor &tensor,
                                 std::string &error) {
  std::string name = "tensor '" + proto.name() + "'";
  if (!isSupportedType(proto.data_type())) {
    error = name + " has unsupported element type " +
            dataTypeName(proto.data_type());
    return false;
  }
  llvm::SmallVector<int64_t> shape(proto.dims().begin(), proto.dims().end());
  int64_t count = countElements(shape);
  if (count < 0) {
    error = name + " has invalid dims";
    return false;
  }
  size_t width = getElementByteSize(proto.data_type());
  auto sizeMismatch = [&](size_t got) {
    error = name + " holds " + std::to_string(got) + " values, its dims need " +
            std::to_string(count);
    return false;
  };
  // Sizes are checked against the data before anything is allocated.
  if (proto.data_location() == ::onnx::TensorProto::EXTERNAL) {
    TensorBytes where;
    if (!locateExternalData(proto, baseDir, where, error))
      return false;
    auto buffer = llvm::MemoryBuffer::getFileSlice(
        where.file, where.length, where.offset, /*IsVolatile=*/false);
    if (!buffer) {
      error = name + ": cannot read external data '" + where.file +
              "': " + buffer.getError().message();
      return false;
    }
    tensor = HostTensor(proto.data_type(), shape);
    decodeRaw((*buffer)->getBufferStart(), tensor);
    return true;
  }
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != size_t(count) * width)
      return sizeMismatch(proto.raw_data().size() / width);
    tensor = HostTensor(proto.data_type(), shape);
    decodeRaw(proto.raw_data().data(), tensor);
    return true;
  }
  int64_t stored;
  switch (proto.data_type()) {
  case kFloat:
    stored = proto.float_data_size();
    break;
  case kDouble:
    stored = proto.double_data_size();
    break;
  case kInt64:
    stored = proto.int64_data_size();
    break;
  case kUInt32:
  case kUInt64:
    stored = proto.uint64_data_size();
    break;
  default:
    stored = proto.int32_data_size();
  }
  if (stored != count)
    return sizeMismatch(size_t(stored));
  tensor = HostTensor(proto.data_type(), shape);
  switch (tensor.type) {
  case kFloat:
    for (int64_t i = 0; i < count; ++i)
      tensor.floats[i] = proto.float_data(int(i));
    return true;
  case kDouble:
    for (int64_t i = 0; i < count; ++i)
      tensor.floats[i] = proto.double_data(int(i));
    return true;
  case kInt64:
    for (int64_t i = 0; i < count; ++i)
      tensor.ints[i] = proto.int64_data(int(i));
    return true;
  case kUInt32:
  case kUInt64:
    for (int64_t i = 0; i < count; ++i)
      tensor.ints[i] = int64_t(proto.uint64_data(int(i)));
    return true;
  default: // int32_data carries every narrower type, halves as bits
    for (int64_t i = 0; i < count; ++i) {
      int32_t value = proto.int32_data(int(i));
      if (tensor.isFloat())
        tensor.floats[i] = halfBitsToDouble(uint16_t(value), tensor.type);
      else
        tensor.ints[i] = wrapToType(value, tensor.type);
    }
    return true;
  }
}

const ::onnx::AttributeProto *
mlir::hgc::onnx::findAttribute(const ::onnx::NodeProto &node,
                               llvm::StringRef name) {
  for (const auto &attribute : node.attribute())
    if (attribute.name() == name)
      return &attribute;
  return nullptr;
}

std::optional<int64_t>
mlir::hgc::onnx::getOptionalIntAttr(const ::onnx::NodeProto &node,
                                    llvm::StringRef name) {
  if (const auto *attribute = findAttribute(node, name))
    return attribute->i();
  return std::nullopt;
}

int64_t mlir::hgc::onnx::getIntAttr(const ::onnx::NodeProto &node,
                                    llvm::StringRef name,
                                    int64_t defaultValue) {
  return getOptionalIntAttr(node, name).value_or(defaultValue);
}

std::optional<float>
mlir::hgc::onnx::getOptionalFloatAttr(const ::onnx::NodeProto &node,
                                      llvm::StringRef name) {
  if (const auto *attribute = findAttribute(node, name))
    return attribute->f();
  return std::nullopt;
}

float mlir::hgc::onnx::getFloatAttr(const ::onnx::NodeProto &node,
                                    llvm::StringRef name, float defaultValue) {
  return getOptionalFloatAttr(node, name).value_or(defaultValue);
}

std::optional<llvm::SmallVector<int64_t>>
mlir::hgc::onnx::getIntsAttr(const ::onnx::NodeProto &node,
                             llvm::StringRef name) {
  const auto *attribute = findAttribute(node, name);
  if (!attribute)
    return std::nullopt;
  return llvm::SmallVector<int64_t>(attribute->ints().begin(),
                                    attribute->ints().end());
}

std::string mlir::hgc::onnx::getStringAttr(const ::onnx::NodeProto &node,
                                           llvm::StringRef name,
                                           llvm::StringRef defaultValue) {
  if (const auto *attribute = findAttribute(node, name))
    return attribute->s();
  return defaultValue.str();
}

std::string mlir::hgc::onnx::describeNode(const ::onnx::NodeProto &node,
                                          int index) {
  std::string text = node.name().empty() ? "node #" + std::to_string(index)
                                         : "node '" + node.name() + "'";
  text += " (" + (node.domain().empty() ? "" : node.domain() + ".") +
          node.op_type() + ")";
  return text;
}
