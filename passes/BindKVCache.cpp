//===- BindKVCache.cpp - decode-step attention onto a KV cache -----------===//

#include "dialect/HgcOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_BINDKVCACHEPASS
#include "passes/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;

namespace {
/// Why `op` is not a single decode step this pass can bind, or null.
const char *whyNotDecodeStep(AttentionOp op) {
  RankedTensorType q = op.getQuery().getType(), k = op.getKey().getType(),
                   v = op.getValue().getType();
  if (q.getRank() != 4 || k.getRank() != 4 || v.getRank() != 4)
    return "3-D attention";
  if (q.getDimSize(2) != 1)
    return "more than one query token";
  if (op.getMask() || op.getQkMatmulOutput())
    return "a mask or a QK output";
  if (ShapedType::isDynamic(k.getDimSize(1)) ||
      ShapedType::isDynamic(k.getDimSize(3)) ||
      k.getDimSize(3) != v.getDimSize(3))
    return "KV heads or head sizes that are dynamic or differ";
  Type elt = k.getElementType();
  if (!elt.isF32() && !elt.isF16() && !elt.isBF16())
    return "a KV element type the cache cannot hold";
  return nullptr;
}

/// past ++ current along the sequence.
Value present(OpBuilder &b, Location loc, Value past, Value current) {
  if (!past)
    return current;
  return tensor::ConcatOp::create(b, loc, /*dim=*/2, ValueRange{past, current});
}

/// `value` as `type` (the op's result types may be more or less static).
Value castTo(OpBuilder &b, Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(b, loc, type, value);
}

void bindDecodeStep(AttentionOp op) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  RankedTensorType q = op.getQuery().getType(), k = op.getKey().getType();
  Value key = present(b, loc, op.getPastKey(), op.getKey());
  Value value = present(b, loc, op.getPastValue(), op.getValue());
  Value lengths;
  if (Value nonpad = op.getNonpadKvSeqlen()) {
    auto type = cast<RankedTensorType>(nonpad.getType());
    lengths = arith::TruncIOp::create(
        b, loc, RankedTensorType::get(type.getShape(), b.getI32Type()), nonpad);
  }
  auto cacheType =
      KVCacheType::get(k.getDimSize(1), k.getDimSize(3), k.getElementType());
  Value cache = BindKVOp::create(b, loc, cacheType, key, value, lengths,
                                 /*keyMin=*/Value(), /*keyMax=*/Value(),
                                 /*summary_block=*/IntegerAttr());

  SmallVector<ReassociationIndices> dropQueryAxis = {{0}, {1}, {2, 3}};
  Value query =
      tensor::CollapseShapeOp::create(b, loc, op.getQuery(), dropQueryAxis);
  auto decode = DecodeAttentionOp::create(
      b, loc, query.getType(), query, cache, op.getScaleAttr(),
      op.getSoftcapAttr(), /*placement=*/PlacementAttr());
  Value output = tensor::ExpandShapeOp::create(b, loc, q, decode.getOutput(),
                                               dropQueryAxis);
  op.getOutput().replaceAllUsesWith(
      castTo(b, loc, output, op.getOutput().getType()));
  if (op.getPresentKey()) {
    op.getPresentKey().replaceAllUsesWith(
        castTo(b, loc, key, op.getPresentKey().getType()));
    op.getPresentValue().replaceAllUsesWith(
        castTo(b, loc, value, op.getPresentValue().getType()));
  }
  op.erase();
}

struct BindKVCachePass : hgc::impl::BindKVCachePassBase<BindKVCachePass> {
  void runOnOperation() override {
    SmallVector<AttentionOp> steps;
    getOperation()->walk([&](AttentionOp op) {
      if (!whyNotDecodeStep(op))
        steps.push_back(op);
    });
    for (AttentionOp op : steps)
      bindDecodeStep(op);
  }
};
} // namespace
