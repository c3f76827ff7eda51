//===- MeanFoldLowering.cpp - hgc.value_mean and hgc.mean_fold to loops ---===//
//
// SparF's estimate of the tokens a selection leaves out: the mean of the
// tier's values (value_mean), weighed into the tier's partial by the share
// of the mass the kept tokens do not hold (mean_fold).
//
//===----------------------------------------------------------------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"
#include "codegen/PagedKV.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

void lowerValueMean(RewriterBase &rewriter, ValueMeanOp op) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  // A paged tier's values are read where they are.
  std::optional<PagedKV> paged = PagedKV::of(e, op.getValue());
  Value value = paged ? paged->value : e.buffer(op.getValue());
  Value lengths = op.getLengths() ? e.buffer(op.getLengths()) : Value();
  RankedTensorType meanType = op.getMean().getType();
  // A paged view has lengths and static heads and head_dim.
  Value batch = lengths ? e.dim(lengths, 0) : e.dim(value, 0);
  Value kvHeads =
      paged ? e.index(op.getValue().getType().getDimSize(1)) : e.dim(value, 1);
  Value headDim = e.dim(value, 3);
  Value tokens = paged ? longestLength(e, lengths) : e.dim(value, 2);
  Value mean = e.alloc(meanType, {batch, kvHeads, headDim});
  e.parallel({batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    Value n = e.validTokens(lengths, bi, tokens);
    auto zero = [&](Value d, ValueRange) {
      memref::StoreOp::create(b, e.f32(0), mean, ValueRange{bi, hk, d});
      return SmallVector<Value>{};
    };
    e.forLoop(e.index(0), headDim, {}, zero);
    // Token by token: each value row is read once, in order.
    e.forLoop(e.index(0), n, {}, [&](Value t, ValueRange) {
      SmallVector<Value> at =
          paged ? paged->at(e, bi, hk, t) : SmallVector<Value>{bi, hk, t};
      e.forLoop(e.index(0), headDim, {}, [&](Value d, ValueRange) {
        SmallVector<Value> from(at.begin(), at.end());
        from.push_back(d);
        Value sum = e.add(e.load(mean, {bi, hk, d}), e.loadF32(value, from));
        memref::StoreOp::create(b, sum, mean, ValueRange{bi, hk, d});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
    Value count = arith::SIToFPOp::create(
        b, b.getF32Type(), arith::IndexCastOp::create(b, b.getI64Type(), n));
    Value inverse = e.select(e.fcmp(arith::CmpFPredicate::OGT, count, e.f32(0)),
                             e.div(e.f32(1), count), e.f32(0));
    e.forLoop(e.index(0), headDim, {}, [&](Value d, ValueRange) {
      memref::StoreOp::create(b, e.mul(e.load(mean, {bi, hk, d}), inverse),
                              mean, ValueRange{bi, hk, d});
      return SmallVector<Value>{};
    });
  });
  rewriter.replaceOp(op, e.tensor(mean, meanType));
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
