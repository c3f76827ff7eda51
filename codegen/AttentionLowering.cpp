//===- AttentionLowering.cpp - hgc.attention reference loops --------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"
#include "dialect/PresentKV.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {
namespace {

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

/// hgc.attention as one online softmax per query row, over the present KV
/// (past ++ current) up to the row's causal and padding limit.
class AttentionLowering {
public:
  AttentionLowering(AttentionOp op, ImplicitLocOpBuilder &b)
      : op(op), b(b), e{b}, rank3(op.getQuery().getType().getRank() == 3) {}

  void lower(RewriterBase &rewriter);

private:
  void readOperands();
  void readSizes();
  void allocateOutputs();
  void emitQueryRow(ValueRange row);
  Value keyLimit(Value bi, Value s);
  Value zeroAccumulator();
  ValueRange attendKeys(Value acc, Value bi, Value h, Value s, Value hk,
                        Value limit);
  void storeQkScores(Value bi, Value h, Value s, Value hk, Value limit,
                     Value rowMax, Value inverse);
  void replaceResults(RewriterBase &rewriter);
  Value presentKV(Value present, HeadsAccessor &current, Value pastBuf,
                  Value headSize);

  Value loadKV(HeadsAccessor &current, Value pastBuf, Value bi, Value hk,
               Value t, Value d);
  Value scaledScore(Value bi, Value h, Value s, Value hk, Value t);
  std::pair<Value, Value> maskTerm(Value bi, Value h, Value s, Value t);

  AttentionOp op;
  ImplicitLocOpBuilder &b;
  Emitter e;
  bool rank3;
  // Sizes in the [batch, heads, seq, head] view.
  Value batch, qHeads, kvHeads, qLen, kvLen, headDim, vHeadDim;
  HeadsAccessor q, k, v, y;
  // Past KV buffers (null without), its length and past + current.
  Value pastKey, pastValue, past, total;
  Value nonpad, mask, group, scale;
  double softcap = 0;
  Value out, qkOut;
  int64_t qkMode = 0;
};

void AttentionLowering::lower(RewriterBase &rewriter) {
  // 1. Q/K/V, past KV, padding lengths and mask as buffers, with sizes.
  readOperands();
  // 2. The output and, when asked for, the QK scores.
  allocateOutputs();
  // 3. Per query row: online softmax over the keys it may see.
  e.parallel({batch, qHeads, qLen}, [&](ValueRange row) { emitQueryRow(row); });
  // 4. The results, present KV included, replace the op's.
  replaceResults(rewriter);
}

void AttentionLowering::readOperands() {
  readSizes();
  pastKey = op.getPastKey() ? e.buffer(op.getPastKey()) : Value();
  pastValue = op.getPastValue() ? e.buffer(op.getPastValue()) : Value();
  past = pastKey ? e.dim(pastKey, 2) : e.index(0);
  total = arith::AddIOp::create(b, past, kvLen);
  nonpad = op.getNonpadKvSeqlen() ? e.buffer(op.getNonpadKvSeqlen()) : Value();
  mask = op.getMask() ? e.buffer(op.getMask()) : Value();
  group = arith::DivUIOp::create(b, qHeads, kvHeads);
  scale = e.scale(op.getScale(), headDim);
  softcap = op.getSoftcap().convertToDouble();
}

/// Q/K/V buffers and the sizes of the [batch, heads, seq, head] view.
void AttentionLowering::readSizes() {
  Value qBuf = e.buffer(op.getQuery()), kBuf = e.buffer(op.getKey()),
        vBuf = e.buffer(op.getValue());
  batch = e.dim(qBuf, 0);
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
  q = {qBuf, headDim, rank3};
  k = {kBuf, headDim, rank3};
  v = {vBuf, vHeadDim, rank3};
}

void AttentionLowering::allocateOutputs() {
  SmallVector<Value> outSizes =
      rank3 ? SmallVector<Value>{batch, qLen,
                                 arith::MulIOp::create(b, qHeads, vHeadDim)}
            : SmallVector<Value>{batch, qHeads, qLen, vHeadDim};
  out = e.alloc(op.getOutput().getType(), outSizes);
  y = {out, vHeadDim, rank3};
  qkMode = op.getQkMatmulOutputMode();
  if (op.getQkMatmulOutput())
    qkOut =
        e.alloc(op.getQkMatmulOutput().getType(), {batch, qHeads, qLen, total});
}

void AttentionLowering::emitQueryRow(ValueRange row) {
  Value bi = row[0], h = row[1], s = row[2];
  Value hk = arith::DivUIOp::create(b, h, group);
  // 1. Keys this query may see: the causal frontier and the padding length.
  Value limit = keyLimit(bi, s);
  // 2. The online softmax: running (max, sum), weighted values in `acc`.
  Value acc = zeroAccumulator();
  ValueRange ml = attendKeys(acc, bi, h, s, hk, limit);
  // 3. The normalized row; a fully masked row gives 0 (ONNX's convention).
  Value l = ml[1];
  Value nonEmpty = e.fcmp(arith::CmpFPredicate::OGT, l, e.f32(0));
  Value inverse = e.select(nonEmpty, e.div(e.f32(1), l), e.f32(0));
  e.forLoop(e.index(0), vHeadDim, {}, [&](Value d, ValueRange) {
    y.store(e, e.mul(memref::LoadOp::create(b, acc, d), inverse), bi, h, s, d);
    return SmallVector<Value>{};
  });
  // 4. The QK scores, when asked for.
  if (qkOut)
    storeQkScores(bi, h, s, hk, limit, ml[0], inverse);
}

Value AttentionLowering::keyLimit(Value bi, Value s) {
  Value limit = total;
  if (nonpad)
    limit = e.validTokens(nonpad, bi, total, /*isI64=*/true);
  if (!op.getIsCausal())
    return limit;
  Value offset = past;
  if (nonpad && !pastKey)
    offset = arith::SubIOp::create(b, limit, qLen);
  Value frontier =
      arith::AddIOp::create(b, arith::AddIOp::create(b, s, offset), e.index(1));
  frontier = arith::MaxSIOp::create(b, frontier, e.index(0));
  return arith::MinSIOp::create(b, limit, frontier);
}

Value AttentionLowering::zeroAccumulator() {
  Value acc = memref::AllocaOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
      ValueRange{vHeadDim});
  e.forLoop(e.index(0), vHeadDim, {}, [&](Value d, ValueRange) {
    memref::StoreOp::create(b, e.f32(0), acc, d);
    return SmallVector<Value>{};
  });
  return acc;
}

/// Keys [0, limit) into `acc`; returns the final (max, sum).
ValueRange AttentionLowering::attendKeys(Value acc, Value bi, Value h, Value s,
                                         Value hk, Value limit) {
  return e.forLoop(
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
            return SmallVector<Value>{mNew, e.add(e.mul(c[1], correction), p)};
          }));
        };
        if (!allowed)
          return attend();
        return llvm::to_vector(e.ifThen(allowed, c, attend));
      });
}

/// The scores of every present token at the stage the mode names, as the
/// ONNX reference computes them: 0 and 1 the scaled (softcapped) QK, 2 with
/// the mask and causal bias added (-inf where disallowed), 3 the softmax (0
/// for disallowed tokens and fully masked rows).
void AttentionLowering::storeQkScores(Value bi, Value h, Value s, Value hk,
                                      Value limit, Value rowMax,
                                      Value inverse) {
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
        Value p = e.mul(e.exp(e.sub(score, rowMax)), inverse);
        score = e.select(allowed, p, e.f32(0));
      }
    }
    e.storeF32(score, qkOut, {bi, h, s, t});
    return SmallVector<Value>{};
  });
}

void AttentionLowering::replaceResults(RewriterBase &rewriter) {
  rewriter.replaceAllUsesWith(op.getOutput(),
                              e.tensor(out, op.getOutput().getType()));
  if (qkOut)
    rewriter.replaceAllUsesWith(
        op.getQkMatmulOutput(),
        e.tensor(qkOut, op.getQkMatmulOutput().getType()));
  if (op.getPresentKey()) {
    rewriter.replaceAllUsesWith(
        op.getPresentKey(), presentKV(op.getPresentKey(), k, pastKey, headDim));
    rewriter.replaceAllUsesWith(
        op.getPresentValue(),
        presentKV(op.getPresentValue(), v, pastValue, vHeadDim));
  }
  rewriter.eraseOp(op);
}

/// present = past ++ current as [batch, kv_heads, total, head], whatever the
/// rank of the current key or value.
Value AttentionLowering::presentKV(Value present, HeadsAccessor &current,
                                   Value pastBuf, Value headSize) {
  auto type = cast<RankedTensorType>(present.getType());
  if (!rank3) {
    // Already [batch, kv_heads, seq, head]: one concatenation (copies of
    // contiguous rows once bufferized).
    bool isKey = present == op.getPresentKey();
    Value joined = buildPresentKV(b, b.getLoc(),
                                  isKey ? op.getPastKey() : op.getPastValue(),
                                  isKey ? op.getKey() : op.getValue());
    if (joined.getType() != type)
      joined = tensor::CastOp::create(b, type, joined);
    return joined;
  }
  Value buffer = e.alloc(type, {batch, kvHeads, total, headSize});
  e.parallel({batch, kvHeads, total}, [&](ValueRange at) {
    e.forLoop(e.index(0), headSize, {}, [&](Value d, ValueRange) {
      e.storeF32(loadKV(current, pastBuf, at[0], at[1], at[2], d), buffer,
                 {at[0], at[1], at[2], d});
      return SmallVector<Value>{};
    });
  });
  return e.tensor(buffer, type);
}

/// Key/value token `t` of the present KV: past first, then current.
Value AttentionLowering::loadKV(HeadsAccessor &current, Value pastBuf, Value bi,
                                Value hk, Value t, Value d) {
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
}

/// scale * q.k for query (b, h, s) and token t, softcapped: the score before
/// any mask.
Value AttentionLowering::scaledScore(Value bi, Value h, Value s, Value hk,
                                     Value t) {
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
}

/// The mask element for (b, h, s, t) as (allowed, additive), broadcast from
/// the right; tokens past a shorter mask's last dimension are masked (ONNX
/// pads it).
std::pair<Value, Value> AttentionLowering::maskTerm(Value bi, Value h, Value s,
                                                    Value t) {
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
}

} // namespace

void lowerAttention(RewriterBase &rewriter, AttentionOp op) {
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  AttentionLowering(op, b).lower(rewriter);
}

} // namespace mlir::hgc::lowering
