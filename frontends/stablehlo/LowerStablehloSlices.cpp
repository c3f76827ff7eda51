//===- LowerStablehloSlices.cpp - data movement to tensor slices ---------===//

#include "frontends/stablehlo/LowerStablehlo.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::hgc::shlo;

namespace {
RankedTensorType typeOf(Value value) {
  return cast<RankedTensorType>(value.getType());
}

SmallVector<OpFoldResult> indexAttrs(OpBuilder &b, ArrayRef<int64_t> values) {
  return llvm::map_to_vector(
      values, [&](int64_t v) -> OpFoldResult { return b.getIndexAttr(v); });
}

/// Start index `index` (a rank-0 integer tensor) clamped into
/// [0, size - extent], as the spec does for dynamic slices.
Value clampedStart(OpBuilder &b, Location loc, Value index, int64_t size,
                   int64_t extent) {
  Value scalar = tensor::ExtractOp::create(b, loc, index, ValueRange{});
  Type element = scalar.getType();
  if (element.getIntOrFloatBitWidth() < 64)
    scalar = arith::ExtSIOp::create(b, loc, b.getI64Type(), scalar);
  Value low = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(0));
  Value high =
      arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(size - extent));
  Value clamped = arith::MaxSIOp::create(
      b, loc, low, arith::MinSIOp::create(b, loc, scalar, high));
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), clamped);
}

SmallVector<OpFoldResult> clampedStarts(OpBuilder &b, Location loc,
                                        ValueRange indices,
                                        RankedTensorType operand,
                                        ArrayRef<int64_t> extents) {
  SmallVector<OpFoldResult> starts;
  for (auto [d, index] : llvm::enumerate(indices))
    starts.push_back(
        clampedStart(b, loc, index, operand.getDimSize(d), extents[d]));
  return starts;
}
} // namespace

FailureOr<Value> mlir::hgc::shlo::lowerConcatenate(OpBuilder &b,
                                                   ConcatenateOp op) {
  Location loc = op.getLoc();
  RankedTensorType result = op.getType();
  Value into = tensor::EmptyOp::create(b, loc, result.getShape(),
                                       result.getElementType());
  int64_t dimension = op.getDimension(), offset = 0;
  for (Value input : op.getInputs()) {
    RankedTensorType type = typeOf(input);
    SmallVector<int64_t> offsets(type.getRank(), 0);
    offsets[dimension] = offset;
    into = tensor::InsertSliceOp::create(
        b, loc, input, into, indexAttrs(b, offsets),
        indexAttrs(b, type.getShape()),
        indexAttrs(b, SmallVector<int64_t>(type.getRank(), 1)));
    offset += type.getDimSize(dimension);
  }
  return into;
}

FailureOr<Value> mlir::hgc::shlo::lowerSlice(OpBuilder &b, SliceOp op) {
  return tensor::ExtractSliceOp::create(b, op.getLoc(), op.getType(),
                                        op.getOperand(),
                                        indexAttrs(b, op.getStartIndices()),
                                        indexAttrs(b, op.getType().getShape()),
                                        indexAttrs(b, op.getStrides()))
      .getResult();
}

FailureOr<Value> mlir::hgc::shlo::lowerDynamicSlice(OpBuilder &b,
                                                    DynamicSliceOp op) {
  Location loc = op.getLoc();
  RankedTensorType operand = typeOf(op.getOperand());
  ArrayRef<int64_t> sizes = op.getSliceSizes();
  return tensor::ExtractSliceOp::create(
             b, loc, op.getType(), op.getOperand(),
             clampedStarts(b, loc, op.getStartIndices(), operand, sizes),
             indexAttrs(b, sizes),
             indexAttrs(b, SmallVector<int64_t>(sizes.size(), 1)))
      .getResult();
}

FailureOr<Value>
mlir::hgc::shlo::lowerDynamicUpdateSlice(OpBuilder &b,
                                         DynamicUpdateSliceOp op) {
  Location loc = op.getLoc();
  RankedTensorType operand = typeOf(op.getOperand());
  ArrayRef<int64_t> sizes = typeOf(op.getUpdate()).getShape();
  return tensor::InsertSliceOp::create(
             b, loc, op.getUpdate(), op.getOperand(),
             clampedStarts(b, loc, op.getStartIndices(), operand, sizes),
             indexAttrs(b, sizes),
             indexAttrs(b, SmallVector<int64_t>(sizes.size(), 1)))
      .getResult();
}

/// The result filled with the padding value, then the operand's elements
/// that land inside it inserted with a stride of interior + 1 (negative
/// edge padding drops elements).
FailureOr<Value> mlir::hgc::shlo::lowerPad(OpBuilder &b, PadOp op) {
  Location loc = op.getLoc();
  RankedTensorType from = typeOf(op.getOperand()), to = op.getType();
  Value value =
      tensor::ExtractOp::create(b, loc, op.getPaddingValue(), ValueRange{});
  Value into =
      tensor::EmptyOp::create(b, loc, to.getShape(), to.getElementType());
  into = linalg::FillOp::create(b, loc, value, into).getResult(0);
  SmallVector<int64_t> first, count, position, stride;
  for (int64_t d = 0; d < from.getRank(); ++d) {
    int64_t low = op.getEdgePaddingLow()[d],
            step = op.getInteriorPadding()[d] + 1, size = from.getDimSize(d),
            out = to.getDimSize(d);
    // Element i lands at low + i * step; keep those in [0, out).
    int64_t begin = low < 0 ? (-low + step - 1) / step : 0;
    int64_t end =
        out - low <= 0 ? 0 : std::min(size, (out - low - 1) / step + 1);
    if (end <= begin)
      return into; // nothing of the operand is left: all padding
    first.push_back(begin);
    count.push_back(end - begin);
    position.push_back(low + begin * step);
    stride.push_back(step);
  }
  auto kept = RankedTensorType::get(count, from.getElementType());
  Value part = tensor::ExtractSliceOp::create(
      b, loc, kept, op.getOperand(), indexAttrs(b, first), indexAttrs(b, count),
      indexAttrs(b, SmallVector<int64_t>(count.size(), 1)));
  return tensor::InsertSliceOp::create(
             b, loc, part, into, indexAttrs(b, position), indexAttrs(b, count),
             indexAttrs(b, stride))
      .getResult();
}

void mlir::hgc::shlo::populateStablehloSlicePatterns(
    RewritePatternSet &patterns) {
  patterns
      .add<ReplaceWithLowered<ConcatenateOp, lowerConcatenate>,
           ReplaceWithLowered<SliceOp, lowerSlice>,
           ReplaceWithLowered<DynamicSliceOp, lowerDynamicSlice>,
           ReplaceWithLowered<DynamicUpdateSliceOp, lowerDynamicUpdateSlice>,
           ReplaceWithLowered<PadOp, lowerPad>>(patterns.getContext());
}
