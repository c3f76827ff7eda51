//===- GpuDenseAttentionLowering.cpp - dense attention on the device ------===//
//
// On the nvptx target, attention that is not a decode step over a cache (a
// prompt, a mask that is not padding, the dense fallback of a bound step)
// runs as one dense device partial: every query row (token) becomes a row
// of the decode kernel, which reads the KV of its sequence
// (rowsPerSequence), sees the keys before its length (the causal frontier
// and the padding) and adds its mask as a bias. Host loops lay out the
// rows, lengths and bias; hgc-launch-device-partials turns the call into
// copies and kernels as for the decode partials. Output rows are laid back
// out as [batch, heads, tokens, head]. What the kernel cannot take (3-D
// operands, a QK output, a mask that differs per head, key and value head
// sizes that differ, shapes no kernel plan fits) keeps the host loops.
//
//===----------------------------------------------------------------------===//

#include "codegen/GpuKernels.h"
#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"
#include "dialect/PresentKV.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {

bool isDeviceAttention(AttentionOp op) {
  RankedTensorType q = op.getQuery().getType(), k = op.getKey().getType(),
                   v = op.getValue().getType();
  if (q.getRank() != 4 || op.getQkMatmulOutput() ||
      k.getDimSize(3) != v.getDimSize(3) || q.isDynamicDim(1) ||
      k.isDynamicDim(1) || q.isDynamicDim(3) || k.isDynamicDim(3) ||
      q.getDimSize(3) != k.getDimSize(3))
    return false;
  if (Value mask = op.getMask()) {
    // One bias row per query row: the mask's head axis (if any) is 1.
    auto type = cast<RankedTensorType>(mask.getType());
    if (type.getRank() >= 3 && type.getDimSize(type.getRank() - 3) != 1)
      return false;
  }
  gpu_kernels::DecodeKernelConfig config;
  config.qHeads = q.getDimSize(1);
  config.kvHeads = k.getDimSize(1);
  config.headDim = q.getDimSize(3);
  config.queryElement = q.getElementType();
  config.kvElement = k.getElementType();
  std::string why;
  return config.qHeads % config.kvHeads == 0 &&
         succeeded(gpu_kernels::planDecodeKernel(config, why));
}

namespace {
/// One dense attention as rows of the device decode kernel: the state the
/// steps of lowerAttentionToDeviceCall share.
class DenseDeviceCall {
public:
  DenseDeviceCall(RewriterBase &rewriter, AttentionOp op)
      : op(op), b(builderBefore(rewriter, op)), e{b} {}

  /// Present KV = past ++ current (what the kernel reads and the op's
  /// present results) and the sizes every step uses.
  void readOperands() {
    keys = buildPresentKV(b, b.getLoc(), op.getPastKey(), op.getKey());
    values = buildPresentKV(b, b.getLoc(), op.getPastValue(), op.getValue());
    qBuf = e.buffer(op.getQuery());
    kBuf = e.buffer(keys);
    vBuf = e.buffer(values);
    batch = e.dim(qBuf, 0);
    qHeads = e.dim(qBuf, 1);
    qLen = e.dim(qBuf, 2);
    headDim = e.dim(qBuf, 3);
    total = e.dim(kBuf, 2);
    past = op.getPastKey() ? Value(tensor::DimOp::create(b, op.getPastKey(), 2))
                           : e.index(0);
    rows = arith::MulIOp::create(b, batch, qLen);
  }

  /// Query rows [batch * tokens, heads, head].
  Value layOutQueryRows() {
    RankedTensorType queryType = op.getQuery().getType();
    auto rowsType = RankedTensorType::get(
        {kDyn, queryType.getDimSize(1), queryType.getDimSize(3)},
        queryType.getElementType());
    Value queryRows = e.alloc(rowsType, {rows, qHeads, headDim});
    e.parallel({batch, qHeads, qLen}, [&](ValueRange at) {
      Value row = rowOf(at[0], at[2]);
      e.forLoop(e.index(0), headDim, {}, [&](Value d, ValueRange) {
        memref::StoreOp::create(
            b,
            memref::LoadOp::create(b, qBuf, ValueRange{at[0], at[1], at[2], d}),
            queryRows, ValueRange{row, at[1], d});
        return SmallVector<Value>{};
      });
    });
    return queryRows;
  }

  /// Keys each row may see: the padding length, then the causal frontier
  /// (query s of a prompt after `past` tokens sees past + s + 1 of them).
  Value computeRowLengths() {
    Value nonpad =
        op.getNonpadKvSeqlen() ? e.buffer(op.getNonpadKvSeqlen()) : Value();
    Value lengths =
        e.alloc(RankedTensorType::get({kDyn}, b.getI32Type()), {rows});
    e.parallel({batch, qLen}, [&](ValueRange at) {
      Value limit = total;
      if (nonpad)
        limit = e.validTokens(nonpad, at[0], total, /*isI64=*/true);
      if (op.getIsCausal()) {
        Value offset = past;
        if (nonpad && !op.getPastKey())
          offset = arith::SubIOp::create(b, limit, qLen);
        Value frontier = arith::AddIOp::create(
            b, arith::AddIOp::create(b, at[1], offset), e.index(1));
        frontier = arith::MaxSIOp::create(b, frontier, e.index(0));
        limit = arith::MinSIOp::create(b, limit, frontier);
      }
      memref::StoreOp::create(
          b, arith::IndexCastOp::create(b, b.getI32Type(), limit), lengths,
          ValueRange{rowOf(at[0], at[1])});
    });
    return lengths;
  }

  /// The mask as a bias per row and key: its value (additive) or 0
  /// (boolean true), -inf where it excludes the key or is shorter; null
  /// without a mask.
  Value buildBiasRows() {
    Value mask = op.getMask();
    if (!mask)
      return Value();
    Value maskBuf = e.buffer(mask);
    auto type = cast<MemRefType>(maskBuf.getType());
    int64_t rank = type.getRank();
    Value bias = e.alloc(RankedTensorType::get({kDyn, kDyn}, b.getF32Type()),
                         {rows, total});
    Value maskKeys = e.dim(maskBuf, rank - 1);
    e.parallel({batch, qLen, total}, [&](ValueRange at) {
      SmallVector<Value> full = {at[0], e.index(0), at[1], at[2]}, where;
      for (int64_t i = 0; i < rank; ++i)
        where.push_back(type.getDimSize(i) == 1 ? e.index(0)
                                                : full[4 - rank + i]);
      Value inMask = e.icmp(arith::CmpIPredicate::slt, at[2], maskKeys);
      where.back() = e.select(inMask, at[2], e.index(0));
      Value term;
      if (type.getElementType().isInteger(1)) {
        Value allowed =
            arith::AndIOp::create(b, inMask, e.load(maskBuf, where));
        term = e.select(allowed, e.f32(0), e.negInf());
      } else {
        term = e.select(inMask, e.loadF32(maskBuf, where), e.negInf());
      }
      memref::StoreOp::create(b, term, bias,
                              ValueRange{rowOf(at[0], at[1]), at[2]});
    });
    return bias;
  }

  /// The device partial `id` over the rows: its normalized output rows
  /// (f32; the LSE is not needed).
  Value callDevicePartial(int64_t id, Value queryRows, Value lengths,
                          Value bias) {
    RankedTensorType queryType = op.getQuery().getType();
    Type f32 = b.getF32Type();
    Value out = e.alloc(
        RankedTensorType::get(
            {kDyn, queryType.getDimSize(1), queryType.getDimSize(3)}, f32),
        {rows, qHeads, headDim});
    Value lse =
        e.alloc(RankedTensorType::get({kDyn, queryType.getDimSize(1)}, f32),
                {rows, qHeads});
    SmallVector<Value> operands = {queryRows, kBuf, vBuf, lengths};
    if (bias)
      operands.push_back(bias);
    operands.append({out, lse, qLen});
    createDevicePartialCall(b, op->getParentOfType<ModuleOp>(), id, operands,
                            op.getScale(), op.getSoftcap(),
                            /*hasLengths=*/true, static_cast<bool>(bias),
                            /*rowsPerSequence=*/true);
    return out;
  }

  /// Rows back to [batch, heads, tokens, head] in the output's type, and
  /// the op's results replaced.
  void replaceResults(RewriterBase &rewriter, Value out) {
    RankedTensorType outputType = op.getOutput().getType();
    Value y = e.alloc(outputType, {batch, qHeads, qLen, headDim});
    e.parallel({batch, qHeads, qLen}, [&](ValueRange at) {
      Value row = rowOf(at[0], at[2]);
      e.forLoop(e.index(0), headDim, {}, [&](Value d, ValueRange) {
        e.storeF32(memref::LoadOp::create(b, out, ValueRange{row, at[1], d}), y,
                   {at[0], at[1], at[2], d});
        return SmallVector<Value>{};
      });
    });
    rewriter.replaceAllUsesWith(op.getOutput(), e.tensor(y, outputType));
    if (op.getPresentKey()) {
      auto cast = [&](Value v, Type type) -> Value {
        return v.getType() == type ? v : tensor::CastOp::create(b, type, v);
      };
      rewriter.replaceAllUsesWith(op.getPresentKey(),
                                  cast(keys, op.getPresentKey().getType()));
      rewriter.replaceAllUsesWith(op.getPresentValue(),
                                  cast(values, op.getPresentValue().getType()));
    }
    rewriter.eraseOp(op);
  }

private:
  static constexpr int64_t kDyn = ShapedType::kDynamic;

  /// The row of token `s` of sequence `bi`.
  Value rowOf(Value bi, Value s) {
    return arith::AddIOp::create(b, arith::MulIOp::create(b, bi, qLen), s);
  }

  AttentionOp op;
  ImplicitLocOpBuilder b;
  Emitter e;
  Value keys, values, qBuf, kBuf, vBuf;
  Value batch, qHeads, qLen, headDim, total, past, rows;
};
} // namespace

void lowerAttentionToDeviceCall(RewriterBase &rewriter, AttentionOp op,
                                int64_t id) {
  // 1. Present KV and the sizes.
  // 2. Query rows, one per (sequence, token).
  // 3. Each row's visible keys (padding, causal frontier).
  // 4. The mask as an f32 bias per row and key.
  // 5. The device partial over the rows.
  // 6. Rows back to the output's layout; results replaced.
  DenseDeviceCall call(rewriter, op);
  call.readOperands();
  Value queryRows = call.layOutQueryRows();
  Value lengths = call.computeRowLengths();
  Value bias = call.buildBiasRows();
  Value out = call.callDevicePartial(id, queryRows, lengths, bias);
  call.replaceResults(rewriter, out);
}

} // namespace mlir::hgc::lowering
