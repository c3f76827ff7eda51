//===- HostTensor.h - small tensors the importer evaluates ------*- C++ -*-===//
//
// ONNX exporters compute shapes inside the graph (Shape -> Gather -> Concat
// -> Reshape, scale = 1/sqrt(head size), ...). With static input shapes all
// of that is known at import time: the importer evaluates such subgraphs on
// HostTensors and emits only the tensor computation (with dynamic dims,
// SymbolicSizes.cpp does the same on partly known sizes). Values are kept as
// double (floating types, rounded to their type after every op) or int64
// (integer and bool types); element types use ONNX's TensorProto codes.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_FRONTENDS_ONNX_HOSTTENSOR_H
#define HGC_FRONTENDS_ONNX_HOSTTENSOR_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::hgc::onnx {

/// ONNX TensorProto.DataType codes the importer handles.
enum DataType : int32_t {
  kFloat = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
};

bool isFloatType(int32_t type);
bool isSupportedType(int32_t type);
/// "float", "int64", ... (ONNX's names), or "type N".
std::string dataTypeName(int32_t type);

struct HostTensor {
  int32_t type = kFloat;
  llvm::SmallVector<int64_t> shape;
  std::vector<double> floats; // floating types
  std::vector<int64_t> ints;  // integer and bool types

  HostTensor() = default;
  HostTensor(int32_t type, llvm::ArrayRef<int64_t> shape);
  static HostTensor fromInts(llvm::ArrayRef<int64_t> values,
                             int32_t type = kInt64);

  int64_t size() const;
  bool isFloat() const { return isFloatType(type); }
  double asDouble(int64_t i) const {
    return isFloat() ? floats[i] : double(ints[i]);
  }
  int64_t asInt(int64_t i) const {
    return isFloat() ? int64_t(floats[i]) : ints[i];
  }
  /// Stores `value` at `i`, rounded/wrapped to the element type.
  void set(int64_t i, double value);
  void setInt(int64_t i, int64_t value);
  /// Element `j` of `from`, a tensor of the same element type, stored at `i`.
  void copyElement(int64_t i, const HostTensor &from, int64_t j) {
    if (isFloat())
      floats[i] = from.floats[j];
    else
      ints[i] = from.ints[j];
  }
};

/// Rounds `value` to what `type` can hold (f32/f16/bf16 rounding to nearest
/// even; doubles unchanged).
double roundToType(double value, int32_t type);
/// Wraps `value` to an integer type's width (bool: != 0).
int64_t wrapToType(int64_t value, int32_t type);
/// `value` truncated toward zero into int64, saturating at the type's range
/// and 0 for NaN: float-to-int conversions of folded values never overflow
/// (ONNX leaves out-of-range casts undefined; C++ makes them UB).
int64_t saturateToInt64(double value);

/// Elements of `shape`, or -1 when a dim is negative or the count exceeds
/// 2^48 (no tensor the importer materializes gets near that).
int64_t countElements(llvm::ArrayRef<int64_t> shape);

/// numpy broadcasting of two shapes; false when they do not broadcast. A
/// dynamic (negative) dim matches anything: dynamic beside 1 or another
/// dynamic dim, the partner's size beside a static one.
bool broadcastShapes(llvm::ArrayRef<int64_t> a, llvm::ArrayRef<int64_t> b,
                     llvm::SmallVectorImpl<int64_t> &result);
/// Row-major strides of `shape`.
llvm::SmallVector<int64_t> getStrides(llvm::ArrayRef<int64_t> shape);
/// The flat index into a tensor of `shape` (broadcast to `outShape`) that
/// output element `linear` reads.
int64_t broadcastIndex(int64_t linear, llvm::ArrayRef<int64_t> outShape,
                       llvm::ArrayRef<int64_t> shape);

} // namespace mlir::hgc::onnx

#endif // HGC_FRONTENDS_ONNX_HOSTTENSOR_H
