//===- KVViewLowering.cpp - hgc.kv_view of bound tensors
//--------------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

//===----------------------------------------------------------------------===//
// hgc.kv_view of a cache bound over plain tensors
//===----------------------------------------------------------------------===//

/// Gathers the tokens `placement` puts on the view's tier out of the bound
/// key/value tensors: on the first tier the sinks then the recent window
/// (every token when the sequence fits the hot set), on the second tier the
/// tokens between them. Later tiers hold nothing without capacity limits.
LogicalResult lowerKVView(KVViewOp op) {
  auto bind = op.getCache().getDefiningOp<BindKVOp>();
  if (!bind)
    return op.emitOpError("reads a runtime-owned cache; the host lowering "
                          "resolves only caches bound with hgc.bind_kv");
  PlacementAttr placement = op.getPlacementAttr();
  if (!placement)
    return op.emitOpError("needs a placement to slice plain KV tensors");
  ArrayRef<TierPolicyAttr> tiers = placement.getTiers();
  int64_t tierIndex = llvm::find_if(tiers,
                                    [&](TierPolicyAttr t) {
                                      return t.getTier() == op.getTier();
                                    }) -
                      tiers.begin();

  ImplicitLocOpBuilder b(op.getLoc(), op);
  Emitter e{b};
  Value key = e.buffer(bind.getKey()), value = e.buffer(bind.getValue());
  Value lengths = bind.getLengths() ? e.buffer(bind.getLengths()) : Value();
  Value batch = e.dim(key, 0), kvHeads = e.dim(key, 1), tokens = e.dim(key, 2),
        headDim = e.dim(key, 3);
  Value sink = e.index(placement.getSink());
  Value hot = e.index(placement.getSink() + placement.getWindow());
  Value zero = e.index(0);
  auto count = [&](Value n) -> Value {
    if (tiers.size() == 1)
      return n;
    if (tierIndex == 0)
      return arith::MinSIOp::create(b, n, hot);
    if (tierIndex == 1)
      return arith::MaxSIOp::create(b, arith::SubIOp::create(b, n, hot), zero);
    return zero;
  };
  auto source = [&](Value j, Value n) -> Value {
    if (tiers.size() == 1)
      return j;
    if (tierIndex == 1)
      return arith::AddIOp::create(b, sink, j);
    // Past the sinks, the window ends at the sequence's last token.
    Value fits = e.icmp(arith::CmpIPredicate::sle, n, hot);
    Value inSinks = e.icmp(arith::CmpIPredicate::slt, j, sink);
    Value windowed =
        arith::AddIOp::create(b, arith::SubIOp::create(b, n, hot), j);
    return e.select(arith::OrIOp::create(b, fits, inSinks), j, windowed);
  };

  Value width = e.forLoop(zero, batch, {zero}, [&](Value bi, ValueRange w) {
    Value n = e.validTokens(lengths, bi, tokens);
    return SmallVector<Value>{arith::MaxSIOp::create(b, w[0], count(n))};
  })[0];
  Value lengthsOut = e.alloc(op.getLengths().getType(), {batch});
  e.parallel({batch}, [&](ValueRange row) {
    Value n = e.validTokens(lengths, row[0], tokens);
    Value c = arith::IndexCastOp::create(b, b.getI32Type(), count(n));
    memref::StoreOp::create(b, c, lengthsOut, row[0]);
  });
  op.getLengths().replaceAllUsesWith(
      e.tensor(lengthsOut, op.getLengths().getType()));
  // One tier holds every token: the view is the bound tensors themselves
  // (no copy; the partial reads them in place).
  if (tiers.size() == 1) {
    for (auto [result, bound] : {std::pair(op.getKey(), bind.getKey()),
                                 std::pair(op.getValue(), bind.getValue())}) {
      Value view = bound;
      if (view.getType() != result.getType())
        view = tensor::CastOp::create(b, result.getType(), view);
      result.replaceAllUsesWith(view);
    }
    op.erase();
    return success();
  }
  // The host tier is one token range per row, [sink, sink + count): a
  // slice of the bound tensors, read in place. (The offset is clamped so an
  // empty tier of a short sequence stays in bounds.)
  if (tierIndex == 1) {
    Value offset = arith::MinSIOp::create(b, sink, tokens);
    for (auto [result, bound, buffer] :
         {std::tuple(op.getKey(), bind.getKey(), key),
          std::tuple(op.getValue(), bind.getValue(), value)}) {
      auto boundType = cast<RankedTensorType>(bound.getType());
      SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(0),
                                           offset, b.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes = {
          b.getIndexAttr(boundType.getDimSize(0)),
          b.getIndexAttr(boundType.getDimSize(1)), width,
          b.getIndexAttr(boundType.getDimSize(3))};
      for (auto [i, size] : llvm::enumerate(boundType.getShape()))
        if (ShapedType::isDynamic(size))
          sizes[i] = e.dim(buffer, i);
      SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
      Value slice =
          tensor::ExtractSliceOp::create(b, bound, offsets, sizes, strides);
      if (slice.getType() != result.getType())
        slice = tensor::CastOp::create(b, result.getType(), slice);
      result.replaceAllUsesWith(slice);
    }
    op.erase();
    return success();
  }
  SmallVector<Value> sizes = {batch, kvHeads, width, headDim};
  Value keyOut = e.alloc(op.getKey().getType(), sizes);
  Value valueOut = e.alloc(op.getValue().getType(), sizes);
  e.parallel({batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    Value n = e.validTokens(lengths, bi, tokens);
    e.forLoop(zero, count(n), {}, [&](Value j, ValueRange) {
      Value t = source(j, n);
      e.forLoop(zero, headDim, {}, [&](Value d, ValueRange) {
        memref::StoreOp::create(b, e.load(key, {bi, hk, t, d}), keyOut,
                                ValueRange{bi, hk, j, d});
        memref::StoreOp::create(b, e.load(value, {bi, hk, t, d}), valueOut,
                                ValueRange{bi, hk, j, d});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
  });
  op.getKey().replaceAllUsesWith(e.tensor(keyOut, op.getKey().getType()));
  op.getValue().replaceAllUsesWith(e.tensor(valueOut, op.getValue().getType()));
  op.erase();
  return success();
}

} // namespace mlir::hgc::lowering
