//===- PresentKV.cpp - past ++ current KV along the sequence --------------===//

#include "dialect/PresentKV.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;

/// Whether `a` and `b` are the same size: equal constants or one value.
static bool isSame(OpFoldResult a, OpFoldResult b) {
  std::optional<int64_t> x = getConstantIntValue(a), y = getConstantIntValue(b);
  if (x || y)
    return x == y;
  return cast<Value>(a) == cast<Value>(b);
}

Value hgc::buildPresentKV(OpBuilder &b, Location loc, Value past,
                          Value current) {
  constexpr int64_t kSeq = 2;
  if (!past)
    return current;
  auto first = past.getDefiningOp<tensor::ExtractSliceOp>();
  auto second = current.getDefiningOp<tensor::ExtractSliceOp>();
  if (first && second && first.getSource() == second.getSource() &&
      first.hasUnitStride() && second.hasUnitStride() &&
      first.getSourceType().getRank() == first.getType().getRank() &&
      second.getSourceType().getRank() == second.getType().getRank()) {
    SmallVector<OpFoldResult> offsets = first.getMixedOffsets(),
                              sizes = first.getMixedSizes();
    SmallVector<OpFoldResult> secondOffsets = second.getMixedOffsets(),
                              secondSizes = second.getMixedSizes();
    // The past from position 0, the current right after it, the same
    // offsets in every other dim (where a concatenation's operands have
    // equal sizes, whichever values compute them).
    bool adjacent = isConstantIntValue(offsets[kSeq], 0) &&
                    isSame(secondOffsets[kSeq], sizes[kSeq]);
    for (size_t d = 0; adjacent && d < offsets.size(); ++d)
      adjacent = d == kSeq || isSame(offsets[d], secondOffsets[d]);
    if (adjacent) {
      std::optional<int64_t> x = getConstantIntValue(sizes[kSeq]),
                             y = getConstantIntValue(secondSizes[kSeq]);
      sizes[kSeq] =
          x && y ? OpFoldResult(b.getIndexAttr(*x + *y))
                 : OpFoldResult(arith::AddIOp::create(
                       b, loc,
                       getValueOrCreateConstantIndexOp(b, loc, sizes[kSeq]),
                       getValueOrCreateConstantIndexOp(b, loc,
                                                       secondSizes[kSeq])));
      return tensor::ExtractSliceOp::create(b, loc, first.getSource(), offsets,
                                            sizes, first.getMixedStrides());
    }
  }
  return tensor::ConcatOp::create(b, loc, /*dim=*/kSeq,
                                  ValueRange{past, current});
}
