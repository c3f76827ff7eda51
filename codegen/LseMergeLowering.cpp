//===- LseMergeLowering.cpp - hgc.lse_merge to loops ----------------------===//
//
// Per output row: the partial outputs weighted by exp(lse - max lse) and
// normalized, and the combined log-sum-exp.
//
//===----------------------------------------------------------------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

void lowerLseMerge(RewriterBase &rewriter, LseMergeOp op) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  Emitter e{b};
  SmallVector<Value> outputs, lses;
  for (Value o : op.getOutputs())
    outputs.push_back(e.buffer(o));
  for (Value l : op.getLses())
    lses.push_back(e.buffer(l));
  int64_t rank = op.getOutput().getType().getRank();
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < rank; ++d)
    sizes.push_back(e.dim(outputs.front(), d));
  Value out = e.alloc(op.getOutput().getType(), sizes);
  Value lse = e.alloc(op.getLse().getType(), ArrayRef(sizes).drop_back());

  e.parallel(ArrayRef(sizes).drop_back(), [&](ValueRange row) {
    SmallVector<Value> partLse;
    Value m = e.negInf();
    for (Value l : lses) {
      partLse.push_back(e.loadF32(l, row));
      m = e.max(m, partLse.back());
    }
    // All partials empty: weights exp(-inf - 0) = 0, output 0, LSE -inf.
    Value empty = e.fcmp(arith::CmpFPredicate::OEQ, m, e.negInf());
    Value mSafe = e.select(empty, e.f32(0), m);
    SmallVector<Value> weights;
    Value sum = e.f32(0);
    for (Value l : partLse) {
      weights.push_back(e.exp(e.sub(l, mSafe)));
      sum = e.add(sum, weights.back());
    }
    Value positive = e.fcmp(arith::CmpFPredicate::OGT, sum, e.f32(0));
    Value inverse = e.select(positive, e.div(e.f32(1), sum), e.f32(0));
    e.forLoop(e.index(0), sizes.back(), {}, [&](Value d, ValueRange) {
      SmallVector<Value> at(row.begin(), row.end());
      at.push_back(d);
      Value acc = e.f32(0);
      for (auto [o, w] : llvm::zip(outputs, weights))
        acc = e.add(acc, e.mul(w, e.loadF32(o, at)));
      e.storeF32(e.mul(acc, inverse), out, at);
      return SmallVector<Value>{};
    });
    Value logSum = e.add(mSafe, e.log(e.select(positive, sum, e.f32(1))));
    memref::StoreOp::create(b, e.select(positive, logSum, e.negInf()), lse,
                            row);
  });
  Value outTensor = e.tensor(out, op.getOutput().getType());
  rewriter.replaceOp(op, {outTensor, e.tensor(lse, op.getLse().getType())});
}

} // namespace mlir::hgc::lowering
