//===- Invariance.cpp - dims along which a StableHLO value is constant ---===//

#include "frontends/stablehlo/Invariance.h"
#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace mlir::hgc::shlo;

namespace {
constexpr int kMaxDepth = 32;

SmallVector<bool> sizeOneDims(RankedTensorType type) {
  return llvm::map_to_vector(type.getShape(),
                             [](int64_t size) { return size == 1; });
}

SmallVector<bool> invariant(Value value, int depth);

/// Reshape: source and result dims in groups of equal products; a result
/// dim is invariant when every source dim of its group is.
SmallVector<bool> throughReshape(RankedTensorType from, RankedTensorType to,
                                 ArrayRef<bool> source) {
  SmallVector<bool> out = sizeOneDims(to);
  if (!from.hasStaticShape() || !to.hasStaticShape())
    return out;
  int64_t i = 0, j = 0, rankFrom = from.getRank(), rankTo = to.getRank();
  while (i < rankFrom || j < rankTo) {
    int64_t fromProduct = 1, toProduct = 1;
    int64_t iBegin = i, jBegin = j;
    if (i < rankFrom)
      fromProduct *= from.getDimSize(i++);
    if (j < rankTo)
      toProduct *= to.getDimSize(j++);
    while (fromProduct != toProduct) {
      if (fromProduct < toProduct && i < rankFrom)
        fromProduct *= from.getDimSize(i++);
      else if (j < rankTo)
        toProduct *= to.getDimSize(j++);
      else
        return out;
    }
    bool all = true;
    for (int64_t d = iBegin; d < i; ++d)
      all &= source[d];
    for (int64_t d = jBegin; d < j; ++d)
      out[d] = out[d] || all;
  }
  return out;
}

SmallVector<bool> invariant(Value value, int depth) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<bool> out = sizeOneDims(type);
  Operation *op = value.getDefiningOp();
  if (!op || depth > kMaxDepth)
    return out;
  if (auto constant = dyn_cast<ConstantOp>(op)) {
    if (auto dense = dyn_cast<DenseElementsAttr>(constant.getValue()))
      if (dense.isSplat())
        out.assign(type.getRank(), true);
    return out;
  }
  if (auto iota = dyn_cast<IotaOp>(op)) {
    int64_t along = iota.getIotaDimension();
    out.assign(type.getRank(), true);
    out[along] = type.getDimSize(along) == 1;
    return out;
  }
  if (auto broadcast = dyn_cast<BroadcastInDimOp>(op)) {
    out.assign(type.getRank(), true);
    SmallVector<bool> source = invariant(broadcast.getOperand(), depth + 1);
    for (auto [i, d] : llvm::enumerate(broadcast.getBroadcastDimensions()))
      out[d] = source[i] || type.getDimSize(d) == 1;
    return out;
  }
  if (auto reshape = dyn_cast<ReshapeOp>(op))
    return throughReshape(
        cast<RankedTensorType>(reshape.getOperand().getType()), type,
        invariant(reshape.getOperand(), depth + 1));
  if (auto transpose = dyn_cast<TransposeOp>(op)) {
    SmallVector<bool> source = invariant(transpose.getOperand(), depth + 1);
    for (auto [i, p] : llvm::enumerate(transpose.getPermutation()))
      out[i] = out[i] || source[p];
    return out;
  }
  // Elementwise (operands of the result's shape, or rank 0 and so the same
  // everywhere): invariant where every operand is.
  if (!isa<CompareOp, SelectOp, ConvertOp, ClampOp, AddOp, SubtractOp,
           MultiplyOp, DivideOp, MaximumOp, MinimumOp, AndOp, OrOp, XorOp,
           NotOp, NegOp>(op))
    return out;
  SmallVector<bool> all(type.getRank(), true);
  for (Value operand : op->getOperands()) {
    if (cast<RankedTensorType>(operand.getType()).getRank() == 0)
      continue;
    SmallVector<bool> each = invariant(operand, depth + 1);
    for (int64_t d = 0; d < type.getRank(); ++d)
      all[d] = all[d] && each[d];
  }
  for (int64_t d = 0; d < type.getRank(); ++d)
    out[d] = out[d] || all[d];
  return out;
}
} // namespace

SmallVector<bool> mlir::hgc::shlo::getInvariantDims(Value value) {
  return invariant(value, 0);
}
