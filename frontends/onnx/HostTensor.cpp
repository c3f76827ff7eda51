//===- HostTensor.cpp - small tensors the importer evaluates -------------===//

#include "frontends/onnx/HostTensor.h"

#include "llvm/ADT/APFloat.h"

#include <cmath>
#include <limits>

using namespace mlir::hgc::onnx;

bool mlir::hgc::onnx::isFloatType(int32_t type) {
  return type == kFloat || type == kFloat16 || type == kDouble ||
         type == kBFloat16;
}

bool mlir::hgc::onnx::isSupportedType(int32_t type) {
  switch (type) {
  case kFloat:
  case kUInt8:
  case kInt8:
  case kInt16:
  case kInt32:
  case kInt64:
  case kBool:
  case kFloat16:
  case kDouble:
  case kUInt32:
  case kUInt64:
  case kBFloat16:
    return true;
  default:
    return false;
  }
}

std::string mlir::hgc::onnx::dataTypeName(int32_t type) {
  switch (type) {
  case kFloat:
    return "float";
  case kUInt8:
    return "uint8";
  case kInt8:
    return "int8";
  case kInt16:
    return "int16";
  case kInt32:
    return "int32";
  case kInt64:
    return "int64";
  case kBool:
    return "bool";
  case kFloat16:
    return "float16";
  case kDouble:
    return "double";
  case kUInt32:
    return "uint32";
  case kUInt64:
    return "uint64";
  case kBFloat16:
    return "bfloat16";
  default:
    return "type " + std::to_string(type);
  }
}

HostTensor::HostTensor(int32_t type, llvm::ArrayRef<int64_t> shape)
    : type(type), shape(shape.begin(), shape.end()) {
  if (isFloat())
    floats.assign(size(), 0.0);
  else
    ints.assign(size(), 0);
}

HostTensor HostTensor::fromInts(llvm::ArrayRef<int64_t> values, int32_t type) {
  HostTensor t(type, {int64_t(values.size())});
  t.ints.assign(values.begin(), values.end());
  return t;
}

int64_t HostTensor::size() const { return countElements(shape); }

int64_t mlir::hgc::onnx::countElements(llvm::ArrayRef<int64_t> shape) {
  constexpr int64_t limit = int64_t(1) << 48;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > limit / d))
      return -1;
    n *= d;
  }
  return n;
}

void HostTensor::set(int64_t i, double value) {
  if (isFloat())
    floats[i] = roundToType(value, type);
  else
    ints[i] =
        type == kBool ? value != 0.0 : wrapToType(saturateToInt64(value), type);
}

void HostTensor::setInt(int64_t i, int64_t value) {
  if (isFloat())
    floats[i] = roundToType(double(value), type);
  else
    ints[i] = wrapToType(value, type);
}

double mlir::hgc::onnx::roundToType(double value, int32_t type) {
  if (type == kFloat)
    return double(float(value));
  if (type != kFloat16 && type != kBFloat16)
    return value;
  llvm::APFloat f(value);
  bool lost;
  f.convert(type == kFloat16 ? llvm::APFloat::IEEEhalf()
                             : llvm::APFloat::BFloat(),
            llvm::APFloat::rmNearestTiesToEven, &lost);
  f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
            &lost);
  return f.convertToDouble();
}

int64_t mlir::hgc::onnx::saturateToInt64(double value) {
  if (std::isnan(value))
    return 0;
  // 2^63 is exact in double; anything at or beyond it saturates.
  constexpr double bound = 9223372036854775808.0;
  if (value >= bound)
    return std::numeric_limits<int64_t>::max();
  if (value < -bound)
    return std::numeric_limits<int64_t>::min();
  return int64_t(value);
}

int64_t mlir::hgc::onnx::wrapToType(int64_t value, int32_t type) {
  switch (type) {
  case kBool:
    return value != 0;
  case kUInt8:
    return int64_t(uint8_t(value));
  case kInt8:
    return int64_t(int8_t(value));
  case kInt16:
    return int64_t(int16_t(value));
  case kInt32:
    return int64_t(int32_t(value));
  case kUInt32:
    return int64_t(uint32_t(value));
  default:
    return value;
  }
}

bool mlir::hgc::onnx::broadcastShapes(llvm::ArrayRef<int64_t> a,
                                      llvm::ArrayRef<int64_t> b,
                                      llvm::SmallVectorImpl<int64_t> &result) {
  size_t rank = std::max(a.size(), b.size());
  result.assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    // A dynamic dim (negative) matches its partner, as ONNX shape inference
    // treats a symbol: the result is the static partner unless that is 1.
    if (da < 0 || db < 0) {
      int64_t dynamic = da < 0 ? da : db, other = da < 0 ? db : da;
      result[i] = other < 0 || other == 1 ? dynamic : other;
      continue;
    }
    if (da != db && da != 1 && db != 1)
      return false;
    result[i] = da == 1 ? db : da;
  }
  return true;
}

llvm::SmallVector<int64_t>
mlir::hgc::onnx::getStrides(llvm::ArrayRef<int64_t> shape) {
  llvm::SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

int64_t mlir::hgc::onnx::broadcastIndex(int64_t linear,
                                        llvm::ArrayRef<int64_t> outShape,
                                        llvm::ArrayRef<int64_t> shape) {
  int64_t index = 0, stride = 1;
  size_t lead = outShape.size() - shape.size();
  for (int64_t d = int64_t(outShape.size()) - 1; d >= 0; --d) {
    int64_t coordinate = linear % outShape[d];
    linear /= outShape[d];
    if (d >= int64_t(lead)) {
      int64_t dim = shape[d - lead];
      if (dim != 1)
        index += coordinate * stride;
      stride *= dim;
    }
  }
  return index;
}
