//===- ChannelKeysLowering.cpp - hgc.kv_channel_keys to loops -------------===//
//
// A tier's keys channel-major, [batch, kv_heads, head_dim, tokens]: what
// channel_topk selection streams a row of per chosen channel. A cache bound
// with the engine's channel-major copy is sliced where it is; otherwise (a
// bound cache without one, a runtime cache's gathered view) the tier's keys
// are transposed here, which reads every key.
//
//===----------------------------------------------------------------------===//

#include "codegen/BoundKV.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

Value emitChannelMajorKeys(Emitter &e, RankedTensorType type, Value key,
                           Value batch, Value width, Value tokens,
                           function_ref<Value(Value)> count,
                           function_ref<Value(Value, Value)> source,
                           KeyIndexFn keyAt) {
  ImplicitLocOpBuilder &b = e.b;
  Value headDim = e.index(type.getDimSize(2));
  Value kvHeads = e.index(type.getDimSize(1));
  Value out = e.alloc(type, {batch, kvHeads, headDim, width});
  Type element = type.getElementType();
  Value zero = arith::ConstantOp::create(b, b.getFloatAttr(element, 0.0));
  e.parallel({batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    Value n = count(bi);
    // Token by token: each key row is read once; a shorter sequence's
    // columns past its end are zero (never selected: lengths say so).
    e.forLoop(e.index(0), width, {}, [&](Value j, ValueRange) {
      Value valid = e.icmp(arith::CmpIPredicate::slt, j, n);
      Value t = arith::MinSIOp::create(
          b, source(j, bi), arith::SubIOp::create(b, tokens, e.index(1)));
      SmallVector<Value> at =
          keyAt ? keyAt(bi, hk, t) : SmallVector<Value>{bi, hk, t};
      e.forLoop(e.index(0), headDim, {}, [&](Value d, ValueRange) {
        SmallVector<Value> from(at.begin(), at.end());
        from.push_back(d);
        Value k = e.select(valid, e.load(key, from), zero);
        memref::StoreOp::create(b, k, out, ValueRange{bi, hk, d, j});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
  });
  return out;
}

LogicalResult lowerKVChannelKeys(RewriterBase &rewriter, KVChannelKeysOp op) {
  FailureOr<BoundTier> tier = BoundTier::of(op);
  if (failed(tier))
    return failure();
  BindKVOp bind = tier->bind;
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  RankedTensorType type = op.getKeys().getType();
  BoundKeys keys(e, bind, op.getFirstHead(), type.getDimSize(1));
  auto [width, lengthsOut] = keys.tokensOn(*tier, op.getLengths().getType());
  std::optional<int64_t> start = tier->rangeStart();
  if (bind.getChannelKeys() && start) {
    Value slice =
        sliceTokens(e, bind.getChannelKeys(), e.buffer(bind.getChannelKeys()),
                    e.index(*start), width, type, op.getFirstHead().value_or(0),
                    /*tokenDim=*/3);
    rewriter.replaceOp(op, {slice, lengthsOut});
    return success();
  }
  Value out = emitChannelMajorKeys(e, type, keys.key, keys.batch, width,
                                   keys.tokens, keys.countOn(*tier),
                                   keys.sourceOn(*tier), keys.indexFn());
  rewriter.replaceOp(op, {e.tensor(out, type), lengthsOut});
  return success();
}

} // namespace mlir::hgc::lowering
