//===- MeanFoldLowering.cpp - hgc.kv_value_mean and hgc.mean_fold to loops ===//
//
// SparF's estimate of the tokens a selection leaves out: the mean of the
// tier's values (kv_value_mean: from the engine's per-block value sums where
// the cache is bound with them, else from every value of the tier), weighed
// into the tier's partial by the share of the mass the kept tokens do not
// hold (mean_fold).
//
//===----------------------------------------------------------------------===//

#include "codegen/BoundKV.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

namespace {
/// Per (sequence, KV head) sums of value rows into a [head_dim] f32
/// accumulator, 8 lanes at a time, then the mean.
struct MeanRow {
  Emitter &e;
  HeadDimLoop &lanes;
  Value acc; // [head_dim] f32

  MeanRow(Emitter &e, HeadDimLoop &lanes) : e(e), lanes(lanes) {
    acc = memref::AllocaOp::create(
        e.b, MemRefType::get({ShapedType::kDynamic}, e.b.getF32Type()),
        ValueRange{lanes.size});
    lanes.over({}, [&](Value d, ValueRange) {
      lanes.store(lanes.zero(), acc, {}, d);
      return SmallVector<Value>{};
    });
  }
  /// acc += row `at` of `source` (any float type).
  void add(Value source, ValueRange at) {
    lanes.over({}, [&](Value d, ValueRange) {
      lanes.store(e.add(lanes.load(acc, {}, d), lanes.load(source, at, d)), acc,
                  {}, d);
      return SmallVector<Value>{};
    });
  }
  /// The rows of tokens [begin, end) of `source`, addressed by `at(t)`.
  void addRange(Value source, Value begin, Value end,
                function_ref<SmallVector<Value>(Value)> at) {
    e.forLoop(begin, end, {}, [&](Value t, ValueRange) {
      add(source, at(t));
      return SmallVector<Value>{};
    });
  }
  /// mean[bi, hk, :] = acc / count (0 without tokens).
  void storeMean(Value mean, Value bi, Value hk, Value count) {
    ImplicitLocOpBuilder &b = e.b;
    Value n = arith::SIToFPOp::create(
        b, b.getF32Type(),
        arith::IndexCastOp::create(b, b.getI64Type(), count));
    Value inverse =
        lanes.splat(e.select(e.fcmp(arith::CmpFPredicate::OGT, n, e.f32(0)),
                             e.div(e.f32(1), n), e.f32(0)));
    lanes.over({}, [&](Value d, ValueRange) {
      lanes.store(e.mul(lanes.load(acc, {}, d), inverse), mean, {bi, hk}, d);
      return SmallVector<Value>{};
    });
  }
};
} // namespace

Value emitValueMean(Emitter &e, RankedTensorType type, Value value, Value batch,
                    Value tokens, function_ref<Value(Value)> count,
                    function_ref<Value(Value, Value)> source,
                    KeyIndexFn valueAt) {
  Value kvHeads = e.index(type.getDimSize(1));
  Value headDim = e.index(type.getDimSize(2));
  Value mean = e.alloc(type, {batch, kvHeads, headDim});
  e.parallel({batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    HeadDimLoop lanes(e, headDim, type.getDimSize(2));
    MeanRow sum(e, lanes);
    Value n = count(bi);
    sum.addRange(value, e.index(0), n, [&](Value j) {
      Value t = source(j, bi);
      return valueAt ? valueAt(bi, hk, t) : SmallVector<Value>{bi, hk, t};
    });
    sum.storeMean(mean, bi, hk, n);
  });
  return mean;
}

LogicalResult lowerKVValueMean(RewriterBase &rewriter, KVValueMeanOp op) {
  FailureOr<BoundTier> tier = BoundTier::of(op);
  if (failed(tier))
    return failure();
  BindKVOp bind = tier->bind;
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  RankedTensorType type = op.getMean().getType();
  BoundKeys kv(e, bind, op.getFirstHead(), type.getDimSize(1),
               /*withValues=*/true);
  std::optional<int64_t> start = tier->rangeStart();
  KeyIndexFn at = kv.indexFn();
  auto positionAt = [&](Value bi, Value hk) {
    return [&, bi, hk](Value t) {
      return at ? at(bi, hk, t) : SmallVector<Value>{bi, hk, t};
    };
  };
  if (!bind.getValueSums() || !start) {
    Value mean = emitValueMean(e, type, kv.value, kv.batch, kv.tokens,
                               kv.countOn(*tier), kv.sourceOn(*tier), at);
    rewriter.replaceOp(op, e.tensor(mean, type));
    return success();
  }
  // The tier is positions [start, start + count): the engine's sums of the
  // blocks wholly inside it, the values of the partial blocks at its ends.
  Value sums = selectHeadGroup(e, e.buffer(bind.getValueSums()),
                               op.getFirstHead(), type.getDimSize(1));
  int64_t block = static_cast<int64_t>(*bind.getValueBlock());
  Value kvHeads = e.index(type.getDimSize(1));
  Value headDim = e.index(type.getDimSize(2));
  Value mean = e.alloc(type, {kv.batch, kvHeads, headDim});
  auto countOf = kv.countOn(*tier);
  e.parallel({kv.batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    HeadDimLoop lanes(e, headDim, type.getDimSize(2));
    MeanRow sum(e, lanes);
    Value n = countOf(bi);
    Value lo = e.index(*start);
    Value hi = arith::AddIOp::create(b, lo, n);
    Value firstBlock = arith::CeilDivUIOp::create(b, lo, e.index(block));
    Value endBlock = arith::DivUIOp::create(b, hi, e.index(block));
    Value whole = e.icmp(arith::CmpIPredicate::ult, firstBlock, endBlock);
    // Without a whole block every token is a partial block's.
    Value head = e.select(
        whole, arith::MulIOp::create(b, firstBlock, e.index(block)), hi);
    Value tail =
        e.select(whole, arith::MulIOp::create(b, endBlock, e.index(block)), hi);
    Value lastBlock = e.select(whole, endBlock, firstBlock);
    sum.addRange(kv.value, lo, head, positionAt(bi, hk));
    e.forLoop(firstBlock, lastBlock, {}, [&](Value blk, ValueRange) {
      sum.add(sums, {bi, hk, blk});
      return SmallVector<Value>{};
    });
    sum.addRange(kv.value, tail, hi, positionAt(bi, hk));
    sum.storeMean(mean, bi, hk, n);
  });
  rewriter.replaceOp(op, e.tensor(mean, type));
  return success();
}

void lowerMeanFold(RewriterBase &rewriter, MeanFoldOp op) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  Value output = e.buffer(op.getOutput()), lse = e.buffer(op.getLse()),
        coverage = e.buffer(op.getCoverage()), mean = e.buffer(op.getMean());
  Value batch = e.dim(output, 0), qHeads = e.dim(output, 1),
        headDim = e.dim(output, 2);
  Value group = arith::DivUIOp::create(b, qHeads, e.dim(mean, 1));
  Value folded =
      e.alloc(op.getFoldedOutput().getType(), {batch, qHeads, headDim});
  Value foldedLse = e.alloc(op.getFoldedLse().getType(), {batch, qHeads});
  e.parallel({batch, qHeads}, [&](ValueRange row) {
    Value bi = row[0], h = row[1];
    Value hk = arith::DivUIOp::create(b, h, group);
    Value alpha = e.load(coverage, {bi, hk});
    // alpha <= 0: nothing was kept (an empty tier); alpha 1: nothing left
    // out. Either way the partial stands as it is.
    Value kept = e.fcmp(arith::CmpFPredicate::OGT, alpha, e.f32(0));
    Value weight = e.select(kept, alpha, e.f32(1));
    Value rest = e.sub(e.f32(1), weight);
    e.forLoop(e.index(0), headDim, {}, [&](Value d, ValueRange) {
      Value o = e.load(output, {bi, h, d});
      Value m = e.load(mean, {bi, hk, d});
      memref::StoreOp::create(b, e.add(e.mul(weight, o), e.mul(rest, m)),
                              folded, ValueRange{bi, h, d});
      return SmallVector<Value>{};
    });
    memref::StoreOp::create(b, e.sub(e.load(lse, {bi, h}), e.log(weight)),
                            foldedLse, ValueRange{bi, h});
  });
  rewriter.replaceOp(op, {e.tensor(folded, op.getFoldedOutput().getType()),
                          e.tensor(foldedLse, op.getFoldedLse().getType())});
}

} // namespace mlir::hgc::lowering
