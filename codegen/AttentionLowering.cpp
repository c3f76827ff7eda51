//===- AttentionLowering.cpp - hgc.attention reference loops --------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"
#include "dialect/PresentKV.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

/// Reads Q/K/V in the [batch, heads, seq, head] view whatever their rank:
/// 3-D operands are [batch, seq, heads * head].
struct HeadsAccessor {
  Value buffer;
  Value headSize;
  bool isRank3;

  Value load(Emitter &e, Value b, Value h, Value s, Value d) {
    if (!isRank3)
      return e.loadF32(buffer, {b, h, s, d});
    Value column =
        arith::AddIOp::create(e.b, arith::MulIOp::create(e.b, h, headSize), d);
    return e.loadF32(buffer, {b, s, column});
  }
  void store(Emitter &e, Value v, Value b, Value h, Value s, Value d) {
    if (!isRank3)
      return e.storeF32(v, buffer, {b, h, s, d});
    Value column =
        arith::AddIOp::create(e.b, arith::MulIOp::create(e.b, h, headSize), d);
    e.storeF32(v, buffer, {b, s, column});
  }
};

LogicalResult lowerAttention(AttentionOp op) {
  ImplicitLocOpBuilder b(op.getLoc(), op);
  Emitter e{b};
  RankedTensorType qType = op.getQuery().getType();
  bool rank3 = qType.getRank() == 3;
  Value qBuf = e.buffer(op.getQuery()), kBuf = e.buffer(op.getKey()),
        vBuf = e.buffer(op.getValue());
  Value batch = e.dim(qBuf, 0);
  Value qHeads, kvHeads, qLen, kvLen, headDim, vHeadDim;
  if (rank3) {
    qHeads = e.index(*op.getQNumHeads());
    kvHeads = e.index(*op.getKvNumHeads());
    qLen = e.dim(qBuf, 1);
    kvLen = e.dim(kBuf, 1);
    headDim = arith::DivUIOp::create(b, e.dim(qBuf, 2), qHeads);
    vHeadDim = arith::DivUIOp::create(b, e.dim(vBuf, 2), kvHeads);
  } else {
    qHeads = e.dim(qBuf, 1);
    kvHeads = e.dim(kBuf, 1);
    qLen = e.dim(qBuf, 2);
    kvLen = e.dim(kBuf, 2);
    headDim = e.dim(qBuf, 3);
    vHeadDim = e.dim(vBuf, 3);
  }
  HeadsAccessor q{qBuf, headDim, rank3}, k{kBuf, headDim, rank3},
      v{vBuf, vHeadDim, rank3};
  Value pastKey = op.getPastKey() ? e.buffer(op.getPastKey()) : Value();
  Value pastValue = op.getPastValue() ? e.buffer(op.getPastValue()) : Value();
  Value past = pastKey ? e.dim(pastKey, 2) : e.index(0);
  Value total = arith::AddIOp::create(b, past, kvLen);
  Value nonpad =
      op.getNonpadKvSeqlen() ? e.buffer(op.getNonpadKvSeqlen()) : Value();
  Value mask = op.getMask() ? e.buffer(op.getMask()) : Value();
  Value group = arith::DivUIOp::create(b, qHeads, kvHeads);
  Value scale = e.scale(op.getScale(), headDim);
  double softcap = op.getSoftcap().convertToDouble();

  SmallVector<Value> outSizes =
      rank3 ? SmallVector<Value>{batch, qLen,
                                 arith::MulIOp::create(b, qHeads, vHeadDim)}
            : SmallVector<Value>{batch, qHeads, qLen, vHeadDim};
  Value out = e.alloc(op.getOutput().getType(), outSizes);
  HeadsAccessor y{out, vHeadDim, rank3};
  Value qkOut;
  int64_t qkMode = op.getQkMatmulOutputMode();
  if (op.getQkMatmulOutput())
    qkOut =
        e.alloc(op.getQkMatmulOutput().getType(), {batch, qHeads, qLen, total});

  // Key/value token `t` of the present KV: past first, then current.
  auto loadKV = [&](HeadsAccessor &current, Value pastBuf, Value bi, Value hk,
                    Value t, Value d) -> Value {
    if (!pastBuf)
      return current.load(e, bi, hk, t, d);
    Value inPast = e.icmp(arith::CmpIPredicate::slt, t, past);
    auto ifOp = scf::IfOp::create(b, b.getF32Type(), inPast,
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    scf::YieldOp::create(b, e.loadF32(pastBuf, {bi, hk, t, d}));
    b.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(
        b, current.load(e, bi, hk, arith::SubIOp::create(b, t, past), d));
    return ifOp.getResult(0);
  };
  // scale * q.k for query (b, h, s) and token t, softcapped: the score
  // before any mask.
  auto scaledScore = [&](Value bi, Value h, Value s, Value hk,
                         Value t) -> Value {
    Value dot =
        e.forLoop(e.index(0), headDim, {e.f32(0)}, [&](Value d, ValueRange a) {
          Value kd = loadKV(k, pastKey, bi, hk, t, d);
          return SmallVector<Value>{
              e.add(a[0], e.mul(q.load(e, bi, h, s, d), kd))};
        })[0];
    Value score = e.mul(dot, scale);
    if (softcap > 0) {
      Value cap = e.f32(softcap);
      score = e.mul(cap, math::TanhOp::create(b, e.div(score, cap)));
    }
    return score;
  };
  // The mask element for (b, h, s, t), broadcast from the right; tokens
  // past a shorter mask's last dimension are masked (ONNX pads it).
  auto maskTerm =
      [&](Value bi, Value h, Value s,
          Value t) -> std::pair<Value, Value> /*(allowed, additive)*/ {
    if (!mask)
      return {Value(), Value()};
    auto type = cast<MemRefType>(mask.getType());
    int64_t rank = type.getRank();
    SmallVector<Value> full = {bi, h, s, t}, at;
    for (int64_t i = 0; i < rank; ++i) {
      int64_t axis = 4 - rank + i;
      at.push_back(type.getDimSize(i) == 1 ? e.index(0) : full[axis]);
    }
    Value inMask = e.icmp(arith::CmpIPredicate::slt, t, e.dim(mask, rank - 1));
    at.back() = e.select(inMask, t, e.index(0));
    Value element = e.load(mask, at);
    if (type.getElementType().isInteger(1))
      return {arith::AndIOp::create(b, inMask, element), Value()};
    return {inMask, e.loadF32(mask, at)};
  };

  e.parallel({batch, qHeads, qLen}, [&](ValueRange row) {
    Value bi = row[0], h = row[1], s = row[2];
    Value hk = arith::DivUIOp::create(b, h, group);
    // Keys this query may see: the causal frontier and the padding length.
    Value limit = total;
    if (nonpad)
      limit = e.validTokens(nonpad, bi, total, /*isI64=*/true);
    if (op.getIsCausal()) {
      Value offset = past;
      if (nonpad && !pastKey)
        offset = arith::SubIOp::create(b, limit, qLen);
      Value frontier = arith::AddIOp::create(
          b, arith::AddIOp::create(b, s, offset), e.index(1));
      frontier = arith::MaxSIOp::create(b, frontier, e.index(0));
      limit = arith::MinSIOp::create(b, limit, frontier);
    }
    Value acc = memref::AllocaOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
        ValueRange{vHeadDim});
    e.forLoop(e.index(0), vHeadDim, {}, [&](Value d, ValueRange) {
      memref::StoreOp::create(b, e.f32(0), acc, d);
      return SmallVector<Value>{};
    });
    ValueRange ml = e.forLoop(
        e.index(0), limit, {e.negInf(), e.f32(0)},
        [&](Value t, ValueRange c) -> SmallVector<Value> {
          std::pair<Value, Value> term = maskTerm(bi, h, s, t);
          Value allowed = term.first, additive = term.second;
          auto attend = [&]() -> SmallVector<Value> {
            Value score = scaledScore(bi, h, s, hk, t);
            if (additive)
              score = e.add(score, additive);
            // A -inf score (from the mask) contributes nothing.
            Value finite = e.fcmp(arith::CmpFPredicate::OGT, score, e.negInf());
            return llvm::to_vector(e.ifThen(finite, c, [&]() {
              Value mNew = e.max(c[0], score);
              Value correction = e.exp(e.sub(c[0], mNew));
              Value p = e.exp(e.sub(score, mNew));
              e.forLoop(e.index(0), vHeadDim, {}, [&](Value d, ValueRange) {
                Value a = memref::LoadOp::create(b, acc, d);
                Value vd = loadKV(v, pastValue, bi, hk, t, d);
                memref::StoreOp::create(
                    b, e.add(e.mul(a, correction), e.mul(p, vd)), acc, d);
                return SmallVector<Value>{};
              });
              return SmallVector<Value>{mNew,
                                        e.add(e.mul(c[1], correction), p)};
            }));
          };
          if (!allowed)
            return attend();
          return llvm::to_vector(e.ifThen(allowed, c, attend));
        });
    // A fully masked row gives 0 (ONNX's convention).
    Value l = ml[1];
    Value nonEmpty = e.fcmp(arith::CmpFPredicate::OGT, l, e.f32(0));
    Value inverse = e.select(nonEmpty, e.div(e.f32(1), l), e.f32(0));
    e.forLoop(e.index(0), vHeadDim, {}, [&](Value d, ValueRange) {
      y.store(e, e.mul(memref::LoadOp::create(b, acc, d), inverse), bi, h, s,
              d);
      return SmallVector<Value>{};
    });
    if (!qkOut)
      return;
    // The scores of every present token at the stage the mode names, as the
    // ONNX reference computes them: 0 and 1 the scaled (softcapped) QK, 2
    // with the mask and causal bias added (-inf where disallowed), 3 the
    // softmax (0 for disallowed tokens and fully masked rows).
    e.forLoop(e.index(0), total, {}, [&](Value t, ValueRange) {
      Value score = scaledScore(bi, h, s, hk, t);
      if (qkMode >= 2) {
        std::pair<Value, Value> term = maskTerm(bi, h, s, t);
        Value allowed = e.icmp(arith::CmpIPredicate::slt, t, limit);
        if (term.first)
          allowed = arith::AndIOp::create(b, allowed, term.first);
        if (term.second)
          score = e.add(score, term.second);
        score = e.select(allowed, score, e.negInf());
        if (qkMode == 3) {
          Value p = e.mul(e.exp(e.sub(score, ml[0])), inverse);
          score = e.select(allowed, p, e.f32(0));
        }
      }
      e.storeF32(score, qkOut, {bi, h, s, t});
      return SmallVector<Value>{};
    });
  });
  op.getOutput().replaceAllUsesWith(e.tensor(out, op.getOutput().getType()));
  if (qkOut)
    op.getQkMatmulOutput().replaceAllUsesWith(
        e.tensor(qkOut, op.getQkMatmulOutput().getType()));
  if (op.getPresentKey()) {
    // present = past ++ current as [batch, kv_heads, total, head], whatever
    // the rank of the current key and value.
    for (auto [present, current, pastBuf, dim] :
         {std::make_tuple(op.getPresentKey(), &k, pastKey, headDim),
          std::make_tuple(op.getPresentValue(), &v, pastValue, vHeadDim)}) {
      auto type = cast<RankedTensorType>(present.getType());
      if (!rank3) {
        // Already [batch, kv_heads, seq, head]: one concatenation (copies of
        // contiguous rows once bufferized).
        Value currentTensor =
            present == op.getPresentKey() ? op.getKey() : op.getValue();
        Value pastTensor =
            present == op.getPresentKey() ? op.getPastKey() : op.getPastValue();
        Value joined = buildPresentKV(b, b.getLoc(), pastTensor, currentTensor);
        if (joined.getType() != type)
          joined = tensor::CastOp::create(b, type, joined);
        present.replaceAllUsesWith(joined);
        continue;
      }
      // Structured bindings cannot be captured before C++20.
      HeadsAccessor &source = *current;
      Value pastSource = pastBuf, headSize = dim;
      Value buffer = e.alloc(type, {batch, kvHeads, total, headSize});
      e.parallel({batch, kvHeads, total}, [&](ValueRange at) {
        e.forLoop(e.index(0), headSize, {}, [&](Value d, ValueRange) {
          e.storeF32(loadKV(source, pastSource, at[0], at[1], at[2], d), buffer,
                     {at[0], at[1], at[2], d});
          return SmallVector<Value>{};
        });
      });
      present.replaceAllUsesWith(e.tensor(buffer, type));
    }
  }
  op.erase();
  return success();
}

} // namespace mlir::hgc::lowering
