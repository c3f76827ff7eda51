//===- SelectLowering.cpp - hgc.select to loops -----------------------------===//

#include "codegen/Lowerings.h"
#include "codegen/LoopEmitter.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

LogicalResult lowerSelect(SelectOp op) {
  if (op.getPolicy() != Selection::ExactTopK)
    return op.emitOpError("lowering of '")
           << stringifySelection(op.getPolicy())
           << "' needs block summaries or quantized keys from the KV runtime";
  ImplicitLocOpBuilder b(op.getLoc(), op);
  Emitter e{b};
  Value q = e.buffer(op.getQuery()), k = e.buffer(op.getInputs()[0]);
  Value lengths = op.getLengths() ? e.buffer(op.getLengths()) : Value();
  Value batch = e.dim(q, 0), qHeads = e.dim(q, 1), headDim = e.dim(q, 2);
  Value kvHeads = e.dim(k, 1), tokens = e.dim(k, 2);
  Value group = arith::DivUIOp::create(b, qHeads, kvHeads);
  Value scale = e.scale(op.getScale(), headDim);

  // Candidates to keep for a sequence of `n` tokens.
  auto budgetFor = [&](Value n) -> Value {
    if (std::optional<uint64_t> count = op.getK())
      return e.index(*count);
    Value nf = arith::SIToFPOp::create(
        b, b.getF64Type(), arith::IndexCastOp::create(b, b.getI64Type(), n));
    Value chosen = math::CeilOp::create(
        b, arith::MulFOp::create(
               b, nf,
               arith::ConstantOp::create(
                   b, b.getF64FloatAttr(op.getFraction()->convertToDouble()))));
    return arith::IndexCastOp::create(
        b, b.getIndexType(),
        arith::FPToSIOp::create(b, b.getI64Type(), chosen));
  };
  // The result holds the largest budget over the batch.
  Value width;
  RankedTensorType resultType = op.getIndices().getType();
  if (!resultType.isDynamicDim(2)) {
    width = e.index(resultType.getDimSize(2));
  } else {
    width =
        e.forLoop(e.index(0), batch, {e.index(0)}, [&](Value bi, ValueRange w) {
          Value n = e.validTokens(lengths, bi, tokens);
          return SmallVector<Value>{
              arith::MaxSIOp::create(b, w[0], budgetFor(n))};
        })[0];
  }
  Value out = e.alloc(resultType, {batch, kvHeads, width});

  e.parallel({batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    Value n = e.validTokens(lengths, bi, tokens);
    Value keep = arith::MinSIOp::create(b, budgetFor(n), n);
    // Keeping every candidate needs no scores: the indices in order.
    Value keepAll = e.icmp(arith::CmpIPredicate::sge, keep, n);
    Value scored = e.select(keepAll, e.index(0), n);
    // Score of a token for the group: the maximum over its query heads.
    Value scores = memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
        ValueRange{scored});
    e.forLoop(e.index(0), scored, {}, [&](Value t, ValueRange) {
      Value best = e.forLoop(
          e.index(0), group, {e.negInf()}, [&](Value g, ValueRange m) {
            Value h = arith::AddIOp::create(
                b, arith::MulIOp::create(b, hk, group), g);
            Value dot = e.forLoop(
                e.index(0), headDim, {e.f32(0)}, [&](Value d, ValueRange s) {
                  return SmallVector<Value>{
                      e.add(s[0], e.mul(e.loadF32(q, {bi, h, d}),
                                        e.loadF32(k, {bi, hk, t, d})))};
                })[0];
            return SmallVector<Value>{e.max(m[0], e.mul(dot, scale))};
          })[0];
      memref::StoreOp::create(b, best, scores, t);
      return SmallVector<Value>{};
    });
    // Otherwise `keep` rounds of argmax (ties to the lower index), each
    // retiring its winner to -inf.
    e.forLoop(e.index(0), width, {}, [&](Value j, ValueRange) {
      Value active = e.icmp(arith::CmpIPredicate::slt, j, keep);
      Value jIndex = arith::IndexCastOp::create(b, b.getI32Type(), j);
      Value identity = e.select(active, jIndex, e.i32(-1));
      Value scan = arith::AndIOp::create(
          b, active,
          arith::XOrIOp::create(
              b, keepAll, arith::ConstantOp::create(b, b.getBoolAttr(true))));
      Value chosen = e.ifThen(scan, {identity}, [&]() {
        ValueRange found = e.forLoop(
            e.index(0), n, {e.negInf(), e.i32(-1)},
            [&](Value t, ValueRange best) {
              Value s = memref::LoadOp::create(b, scores, t);
              Value better = e.fcmp(arith::CmpFPredicate::OGT, s, best[0]);
              Value ti = arith::IndexCastOp::create(b, b.getI32Type(), t);
              return SmallVector<Value>{e.select(better, s, best[0]),
                                        e.select(better, ti, best[1])};
            });
        Value index = found[1];
        Value hit = e.icmp(arith::CmpIPredicate::sge, index, e.i32(0));
        e.ifThen(hit, {}, [&]() {
          memref::StoreOp::create(b, e.negInf(), scores, e.toIndex(index));
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{index};
      })[0];
      memref::StoreOp::create(b, chosen, out, ValueRange{bi, hk, j});
      return SmallVector<Value>{};
    });
    // The deallocation pipeline frees `scores` (it rejects explicit frees).
  });
  op.getIndices().replaceAllUsesWith(e.tensor(out, resultType));
  op.erase();
  return success();
}

} // namespace mlir::hgc::lowering
