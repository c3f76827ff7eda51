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

bool mlir::hgc::onnx::parseModel(llvm::StringRef bytes, const std::string &name,
                                 ::onnx::ModelProto &model,
                                 std::string &error) {
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t *>(bytes.data()), int(bytes.size()));
  // Models with weights inline may exceed protobuf's 64 MiB default.
  stream.SetTotalBytesLimit(INT32_MAX);
  if (bytes.size() > size_t(INT32_MAX) ||
      !model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage()) {
    error = name + ": not a valid ONNX model (malformed or truncated protobuf)";
    return false;
  }
  if (!model.has_graph()) {
    error = name + ": the model has no graph";
    return false;
  }
  return true;
}

bool mlir::hgc::onnx::loadModel(const std::string &path,
                                ::onnx::ModelProto &model, std::string &error) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer) {
    error = path + ": " + buffer.getError().message();
    return false;
  }
  return parseModel((*buffer)->getBuffer(), path, model, error);
}

namespace {
/// Element bytes of raw_data for a type, 0 when unsupported.
size_t rawElementBytes(int32_t type) {
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
  size_t width = rawElementBytes(tensor.type);
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
  size_t width = rawElementBytes(proto.data_type());
  auto sizeMismatch = [&](size_t got) {
    error = name + " holds " + std::to_string(got) + " values, its dims need " +
            std::to_string(count);
    return false;
  };
  // Sizes are checked against the data before anything is allocated.
  if (proto.data_location() == ::onnx::TensorProto::EXTERNAL) {
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
    if (!llvm::sys::fs::is_regular_file(path)) {
      error = name + ": external data '" + std::string(path) +
              "' is not a readable file";
      return false;
    }
    auto buffer = llvm::MemoryBuffer::getFile(path, false, false);
    if (location.empty() || !buffer) {
      error = name + ": cannot read external data '" + std::string(path) + "'" +
              (buffer ? "" : ": " + buffer.getError().message());
      return false;
    }
    size_t need = size_t(count) * width;
    if (length >= 0 && size_t(length) != need)
      return sizeMismatch(size_t(length) / width);
    if (offset < 0 || size_t(offset) > (*buffer)->getBufferSize() ||
        need > (*buffer)->getBufferSize() - size_t(offset)) {
      error = name + ": external data '" + std::string(path) +
              "' is shorter than the tensor";
      return false;
    }
    tensor = HostTensor(proto.data_type(), shape);
    decodeRaw((*buffer)->getBufferStart() + offset, tensor);
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
