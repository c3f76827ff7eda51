//===- ShapeChecks.cpp - shape rules shared by hgc verifiers -------------===//

#include "dialect/ShapeChecks.h"

#include "mlir/IR/Diagnostics.h"

using namespace mlir;

namespace {
bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "[";
  llvm::interleaveComma(shape, os, [&](int64_t dim) {
    if (ShapedType::isDynamic(dim))
      os << "?";
    else
      os << dim;
  });
  os << "]";
  return text;
}
} // namespace

int64_t hgc::addDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b)
             ? ShapedType::kDynamic
             : a + b;
}

int64_t hgc::mulDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b)
             ? ShapedType::kDynamic
             : a * b;
}

LogicalResult hgc::verifyDim(Operation *op, StringRef name, int64_t actual,
                             StringRef otherName, int64_t expected) {
  if (dimsCompatible(actual, expected))
    return success();
  return op->emitOpError() << name << " (" << actual << ") must equal "
                           << otherName << " (" << expected << ")";
}

LogicalResult hgc::verifyShape(Operation *op, StringRef name, Type type,
                               ArrayRef<int64_t> expected) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  if (!ranked)
    return op->emitOpError() << "'" << name << "' must be a ranked tensor";
  ArrayRef<int64_t> shape = ranked.getShape();
  bool ok = shape.size() == expected.size() &&
            llvm::all_of(llvm::zip(shape, expected), [](auto pair) {
              return dimsCompatible(std::get<0>(pair), std::get<1>(pair));
            });
  if (ok)
    return success();
  return op->emitOpError() << "'" << name << "' has shape "
                           << formatShape(shape) << ", expected "
                           << formatShape(expected);
}

LogicalResult hgc::verifyBroadcastable(Operation *op, StringRef name,
                                       ShapedType type,
                                       ArrayRef<int64_t> target) {
  ArrayRef<int64_t> shape = type.getShape();
  bool ok = shape.size() <= target.size();
  for (size_t i = 0; ok && i < shape.size(); ++i) {
    int64_t dim = shape[shape.size() - 1 - i];
    int64_t want = target[target.size() - 1 - i];
    ok = dim == 1 || dimsCompatible(dim, want);
  }
  if (ok)
    return success();
  return op->emitOpError() << "'" << name << "' of shape " << formatShape(shape)
                           << " does not broadcast to " << formatShape(target);
}

LogicalResult hgc::verifyPartial(Operation *op, RankedTensorType output,
                                 RankedTensorType lse,
                                 ArrayRef<int64_t> outputShape) {
  if (output.getRank() < 1)
    return op->emitOpError("partial output needs at least one dimension");
  if (failed(verifyShape(op, "output", output, outputShape)))
    return failure();
  return verifyShape(op, "lse", lse, output.getShape().drop_back());
}
