//===- EmitMicrosoftAttention.cpp - com.microsoft attention ops ----------===//
//
// MultiHeadAttention and GroupQueryAttention (onnxruntime's contrib ops, as
// exported by its transformer optimizers) onto hgc.attention.
//
//===----------------------------------------------------------------------===//

#include "frontends/onnx/AttentionBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

namespace {
/// Rejects inputs [first, end) by name when present.
LogicalResult rejectInputs(NodeEmitter &node, size_t first,
                           llvm::ArrayRef<const char *> names) {
  for (size_t i = first; i < node.numInputs(); ++i)
    if (node.hasInput(i))
      return node.fail(std::string(i - first < names.size()
                                       ? names[i - first]
                                       : "input " + std::to_string(i)) +
                       " is not supported");
  return success();
}

/// MultiHeadAttention with separate 3-D query, key and value [batch, seq,
/// heads * head]: q_num_heads = kv_num_heads = num_heads, `unidirectional`
/// as is_causal, attention_bias as the additive mask, past/present (BNSH) as
/// in ONNX Attention. Packed QKV, the projection bias and key_padding_mask
/// are rejected by name.
LogicalResult emitMultiHeadAttention(NodeEmitter &node) {
  if (!node.hasInput(0) || !node.hasInput(1) || !node.hasInput(2))
    return node.fail("needs separate query, key and value (packed QKV is not "
                     "supported)");
  if (node.hasInput(3))
    return node.fail("the input projection bias is not supported");
  if (node.hasInput(4))
    return node.fail("key_padding_mask is not supported; use attention_bias");
  if (failed(
          rejectInputs(node, 8, {"past_sequence_length", "cache_indirection"})))
    return failure();
  for (size_t i = 0; i < 3; ++i)
    if (node.input(i).shape.size() != 3)
      return node.fail("query, key and value must be 3-D [batch, seq, "
                       "hidden]");
  std::optional<int64_t> heads = getOptionalIntAttr(node.node, "num_heads");
  if (!heads || *heads <= 0)
    return node.fail("needs a positive num_heads");
  AttentionOperands a;
  a.query = node.operand(0);
  a.key = node.operand(1);
  a.value = node.operand(2);
  if (node.hasInput(5))
    a.mask = node.operand(5);
  if (node.hasInput(6) || node.hasInput(7)) {
    if (!node.hasInput(6) || !node.hasInput(7))
      return node.fail("past_key and past_value come together");
    a.pastKey = node.operand(6);
    a.pastValue = node.operand(7);
  }
  a.qHeads = a.kvHeads = *heads;
  a.scale = getOptionalFloatAttr(node.node, "scale");
  a.causal = getIntAttr(node.node, "unidirectional", 0) != 0;
  a.wantsPresent = node.wantsOutput(1) || node.wantsOutput(2);
  FailureOr<Operation *> op = buildAttention(node, a);
  if (failed(op))
    return failure();
  int32_t type = node.input(0).type;
  node.setResult(0, (*op)->getResult(0), type);
  if (a.wantsPresent) {
    node.setResult(1, (*op)->getResult(1), type);
    node.setResult(2, (*op)->getResult(2), type);
  }
  return success();
}

/// present[b, h, t] for GroupQueryAttention: sequence b holds
/// len = seqlens_k[b] + 1 tokens, the S new ones at [len - S, len); tokens
/// before come from the past buffer (as do any after, unused), the rest 0.
Value buildPresent(GraphBuilder &g, Value past, Value current, Value seqlens,
                   OpFoldResult length) {
  auto currentType = cast<RankedTensorType>(current.getType());
  SmallVector<OpFoldResult> sizes = g.mixedSizes(current);
  // The new tokens' count (dynamic for a program serving prompts and steps).
  Value seq = g.indexValue(sizes[2]);
  Value lastNew = arith::SubIOp::create(
      g.b, g.loc, seq, arith::ConstantIndexOp::create(g.b, g.loc, 1));
  int64_t pastLength =
      past ? cast<RankedTensorType>(past.getType()).getDimSize(2) : 0;
  // A past of run-time length may be empty: it is read under a branch.
  Value pastSize;
  if (ShapedType::isDynamic(pastLength))
    pastSize = tensor::DimOp::create(g.b, g.loc, past, 2);
  Type element = currentType.getElementType();
  Value init = g.emptyTensor({sizes[0], sizes[1], length, sizes[3]}, element);
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      g.b, g.loc, init.getType(), ValueRange{}, ValueRange{init},
      SmallVector<AffineMap>{g.b.getMultiDimIdentityMap(4)}, iterators,
      [&](OpBuilder &b, Location loc, ValueRange) {
        auto index = [&](int64_t v) {
          return Value(arith::ConstantIndexOp::create(b, loc, v));
        };
        Value bi = linalg::IndexOp::create(b, loc, 0);
        Value h = linalg::IndexOp::create(b, loc, 1);
        Value t = linalg::IndexOp::create(b, loc, 2);
        Value d = linalg::IndexOp::create(b, loc, 3);
        Value len = tensor::ExtractOp::create(b, loc, seqlens, ValueRange{bi});
        len = arith::IndexCastOp::create(b, loc, b.getIndexType(), len);
        len = arith::AddIOp::create(b, loc, len, index(1));
        Value start = arith::SubIOp::create(b, loc, len, seq);
        Value offset = arith::SubIOp::create(b, loc, t, start);
        Value isNew = arith::AndIOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, offset,
                                  index(0)),
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, offset,
                                  seq));
        // Clamped reads: the select picks the meaningful one.
        Value newAt = arith::MinSIOp::create(
            b, loc, arith::MaxSIOp::create(b, loc, offset, index(0)), lastNew);
        Value fromNew = tensor::ExtractOp::create(b, loc, current,
                                                  ValueRange{bi, h, newAt, d});
        Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(element));
        Value fromPast = zero;
        if (pastSize) {
          Value inPast = arith::CmpIOp::create(
              b, loc, arith::CmpIPredicate::slt, t, pastSize);
          auto read = scf::IfOp::create(
              b, loc, inPast,
              [&](OpBuilder &b, Location loc) {
                scf::YieldOp::create(
                    b, loc,
                    ValueRange{tensor::ExtractOp::create(
                        b, loc, past, ValueRange{bi, h, t, d})});
              },
              [&](OpBuilder &b, Location loc) {
                scf::YieldOp::create(b, loc, ValueRange{zero});
              });
          fromPast = read.getResult(0);
        } else if (pastLength > 0) {
          Value pastAt =
              arith::MinSIOp::create(b, loc, t, index(pastLength - 1));
          Value inPast = arith::CmpIOp::create(
              b, loc, arith::CmpIPredicate::slt, t, index(pastLength));
          Value read = tensor::ExtractOp::create(b, loc, past,
                                                 ValueRange{bi, h, pastAt, d});
          fromPast = arith::SelectOp::create(b, loc, inPast, read, zero);
        }
        Value result =
            arith::SelectOp::create(b, loc, isNew, fromNew, fromPast);
        linalg::YieldOp::create(b, loc, result);
      });
  return generic.getResult(0);
}

/// Rotary positions [batch, seq] (i64) of GroupQueryAttention's new tokens,
/// as onnxruntime computes them: position_ids when given; 0.. for a first
/// prompt (no past, total = seq); otherwise each sequence's new tokens end
/// at its length seqlens_k + 1.
FailureOr<Value> buildRotaryPositions(NodeEmitter &node,
                                      ArrayRef<OpFoldResult> batchAndSeq,
                                      Value firstPrompt) {
  GraphBuilder &g = node.g;
  if (node.hasInput(9)) {
    GraphValue &given = node.input(9);
    SmallVector<int64_t> expected = getStaticSizes(batchAndSeq), joined;
    if (given.shape.size() != 2 || isFloatType(given.type) ||
        !broadcastShapes(given.shape, expected, joined) || joined != expected)
      return node.fail("position_ids must be integers [batch, seq]");
    return node.operand(9);
  }
  int32_t seqlensType = node.input(5).type;
  Value seqlens = node.operand(5);
  Value init = g.emptyTensor(batchAndSeq, g.b.getI64Type());
  Value seq = arith::IndexCastOp::create(g.b, g.loc, g.b.getI64Type(),
                                         g.indexValue(batchAndSeq[1]));
  SmallVector<AffineMap> maps = {
      AffineMap::get(2, 0, {g.b.getAffineDimExpr(0)}, g.b.getContext()),
      g.b.getMultiDimIdentityMap(2)};
  SmallVector<utils::IteratorType> iterators(2, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             g.b, g.loc, init.getType(), ValueRange{seqlens}, ValueRange{init},
             maps, iterators,
             [&](OpBuilder &b, Location loc, ValueRange args) {
               Value s = arith::IndexCastOp::create(
                   b, loc, b.getI64Type(), linalg::IndexOp::create(b, loc, 1));
               // seqlens_k + 1 - seq + s, or s for a first prompt.
               Value length = convertScalar(b, loc, args[0], seqlensType,
                                            kInt64, b.getI64Type());
               Value one =
                   arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(1));
               Value start = arith::SubIOp::create(
                   b, loc, arith::AddIOp::create(b, loc, length, one), seq);
               Value position = arith::AddIOp::create(b, loc, start, s);
               linalg::YieldOp::create(b, loc,
                                       ValueRange{arith::SelectOp::create(
                                           b, loc, firstPrompt, s, position)});
             })
      .getResult(0);
}

/// GroupQueryAttention: inputs query, key, value [batch, seq, heads * head],
/// past_key/past_value [batch, kv_heads, past, head], seqlens_k [batch]
/// (tokens per sequence - 1), total_sequence_length (scalar); causal over
/// each sequence's tokens. The present length is max(past,
/// total_sequence_length): static when both are known when compiling (a
/// constant, or the input's value given to the compiler, as `hgc run`
/// does), else computed at run time.
class GroupQueryAttentionEmitter {
public:
  explicit GroupQueryAttentionEmitter(NodeEmitter &node)
      : node(node), g(node.g) {}

  // 1. Check the inputs and attributes, read the head counts.
  // 2. Check the shapes, read the head size and the past's length.
  // 3. The present length and whether this is a first prompt.
  // 4. Q, K and V: slices of a packed QKV, or the inputs.
  // 5. Rotary embedding of Q and K (do_rotary).
  // 6. Present K and V, and attention over them, causal per sequence.
  LogicalResult emit() {
    if (failed(checkInputs()) || failed(checkShapes()) ||
        failed(findPresentLength()))
      return failure();
    splitQueryKeyValue();
    if (rotary && failed(applyRotary()))
      return failure();
    return emitAttention();
  }

private:
  LogicalResult checkInputs();
  LogicalResult checkShapes();
  LogicalResult findPresentLength();
  /// The present length and first-prompt flag not known when compiling,
  /// from the past's size and total_sequence_length at run time.
  void computeLengthsAtRunTime();
  void splitQueryKeyValue();
  LogicalResult applyRotary();
  LogicalResult emitAttention();

  NodeEmitter &node;
  GraphBuilder &g;
  bool packed = false, rotary = false, hasPast = false;
  int64_t heads = 0, kvHeads = 0, headSize = 0, seq = 0, pastLength = 0;
  int64_t totalLength = ShapedType::kDynamic;
  // Batch and new tokens may be dynamic (one program for prompts and steps).
  SmallVector<OpFoldResult> querySizes;
  OpFoldResult length;
  Value firstPrompt; // no past and total = seq: rotary positions from 0
  Value queryPart, keyPart, valuePart;
};

LogicalResult GroupQueryAttentionEmitter::checkInputs() {
  packed = !node.hasInput(1) && !node.hasInput(2);
  if (!node.hasInput(0) ||
      (!packed && (!node.hasInput(1) || !node.hasInput(2))))
    return node.fail("needs query, key and value, or packed QKV in query");
  if (!node.hasInput(5) || !node.hasInput(6))
    return node.fail("needs seqlens_k and total_sequence_length");
  if (failed(rejectInputs(node, 10, {"attention_bias", "head_sink"})))
    return failure();
  rotary = getIntAttr(node.node, "do_rotary", 0) != 0;
  if (rotary && (!node.hasInput(7) || !node.hasInput(8)))
    return node.fail("do_rotary needs cos_cache and sin_cache");
  if (!rotary && (node.hasInput(7) || node.hasInput(8) || node.hasInput(9)))
    return node.fail("cos_cache, sin_cache and position_ids need do_rotary");
  if (getIntAttr(node.node, "local_window_size", -1) != -1)
    return node.fail("local_window_size is not supported");
  if (getIntAttr(node.node, "smooth_softmax", 0))
    return node.fail("smooth_softmax is not supported");
  if (node.wantsOutput(3))
    return node.fail("output_qk is not supported");
  heads = getIntAttr(node.node, "num_heads", 0);
  kvHeads = getIntAttr(node.node, "kv_num_heads", 0);
  if (heads <= 0 || kvHeads <= 0 || heads % kvHeads)
    return node.fail("num_heads must be a positive multiple of kv_num_heads");
  return success();
}

LogicalResult GroupQueryAttentionEmitter::checkShapes() {
  for (size_t i = 0; i < (packed ? 1 : 3); ++i)
    if (node.input(i).shape.size() != 3)
      return node.fail("query, key and value must be 3-D [batch, seq, "
                       "hidden]");
  GraphValue &query = node.input(0);
  int64_t batch = query.shape[0];
  seq = query.shape[1];
  if (ShapedType::isDynamic(query.shape[2]))
    return node.fail("the query's hidden size must be static");
  querySizes = g.mixedSizes(node.operand(0));
  // Packed QKV: query is [batch, seq, (heads + 2 kv_heads) * head].
  int64_t packedWidth = query.shape[2];
  if (packed && packedWidth % (heads + 2 * kvHeads))
    return node.fail("packed QKV width " + std::to_string(packedWidth) +
                     " is not (num_heads + 2 kv_num_heads) * head size");
  headSize =
      packed ? packedWidth / (heads + 2 * kvHeads) : query.shape[2] / heads;
  if (!packed && (node.input(1).shape[2] % kvHeads || query.shape[2] % heads))
    return node.fail("hidden sizes are not multiples of the head counts");
  GraphValue &seqlens = node.input(5);
  if (seqlens.shape.size() != 1 || isFloatType(seqlens.type) ||
      (seqlens.shape[0] != batch && !ShapedType::isDynamic(batch) &&
       !ShapedType::isDynamic(seqlens.shape[0])))
    return node.fail("seqlens_k must be an integer tensor [batch]");
  hasPast = node.hasInput(3) || node.hasInput(4);
  if (hasPast && (!node.hasInput(3) || !node.hasInput(4)))
    return node.fail("past_key and past_value come together");
  if (hasPast &&
      (node.input(3).shape.size() != 4 || node.input(4).shape.size() != 4))
    return node.fail("past_key and past_value must be 4-D [batch, kv_heads, "
                     "past, head]");
  pastLength = hasPast ? node.input(3).shape[2] : 0;
  return success();
}

LogicalResult GroupQueryAttentionEmitter::findPresentLength() {
  // max(past, total_sequence_length): static when both are known when
  // compiling, else computed at run time (a past of dynamic length, a total
  // read from the mask's shape).
  GraphValue &totalInput = node.input(6);
  if (isFloatType(totalInput.type) || countElements(totalInput.shape) != 1)
    return node.fail("total_sequence_length must be one integer");
  if (const HostTensor *total = node.shapeDefiningInput(6)) {
    totalLength = total->asInt(0);
    if (!ShapedType::isDynamic(seq) && totalLength < seq)
      return node.fail("total_sequence_length " + std::to_string(totalLength) +
                       " is shorter than the new tokens (" +
                       std::to_string(seq) + ")");
  }
  if (!ShapedType::isDynamic(pastLength) &&
      !ShapedType::isDynamic(totalLength)) {
    length = g.b.getIndexAttr(std::max(pastLength, totalLength));
    if (!ShapedType::isDynamic(seq))
      firstPrompt = arith::ConstantIntOp::create(
          g.b, g.loc, pastLength == 0 && totalLength == seq, 1);
  }
  if (!getConstantIntValue(length) || !firstPrompt)
    computeLengthsAtRunTime();
  return success();
}

void GroupQueryAttentionEmitter::computeLengthsAtRunTime() {
  Value zero = arith::ConstantIndexOp::create(g.b, g.loc, 0);
  Value past = hasPast ? g.indexValue(g.mixedSizes(node.operand(3))[2]) : zero;
  Value total;
  if (ShapedType::isDynamic(totalLength)) {
    SmallVector<Value> first(node.input(6).shape.size(), zero);
    total = tensor::ExtractOp::create(g.b, g.loc, node.operand(6), first);
    total = arith::IndexCastOp::create(g.b, g.loc, g.b.getIndexType(), total);
  } else {
    total = arith::ConstantIndexOp::create(g.b, g.loc, totalLength);
  }
  if (!getConstantIntValue(length))
    length = Value(arith::MaxSIOp::create(g.b, g.loc, past, total));
  if (!firstPrompt)
    firstPrompt = arith::AndIOp::create(
        g.b, g.loc,
        arith::CmpIOp::create(g.b, g.loc, arith::CmpIPredicate::eq, past, zero),
        arith::CmpIOp::create(g.b, g.loc, arith::CmpIPredicate::eq, total,
                              g.indexValue(querySizes[1])));
}

void GroupQueryAttentionEmitter::splitQueryKeyValue() {
  queryPart = node.operand(0);
  if (!packed) {
    keyPart = node.operand(1);
    valuePart = node.operand(2);
    return;
  }
  auto slice = [&](int64_t first, int64_t width) -> Value {
    SmallVector<OpFoldResult> offsets =
        getAsIndexOpFoldResult(g.b.getContext(), {0, 0, first * headSize});
    SmallVector<OpFoldResult> sizes = {querySizes[0], querySizes[1],
                                       g.b.getIndexAttr(width * headSize)};
    SmallVector<OpFoldResult> strides =
        getAsIndexOpFoldResult(g.b.getContext(), {1, 1, 1});
    return tensor::ExtractSliceOp::create(g.b, g.loc, queryPart, offsets, sizes,
                                          strides);
  };
  keyPart = slice(heads, kvHeads);
  valuePart = slice(heads + kvHeads, kvHeads);
  queryPart = slice(0, heads);
}

LogicalResult GroupQueryAttentionEmitter::applyRotary() {
  FailureOr<Value> positions = buildRotaryPositions(
      node, ArrayRef(querySizes).take_front(2), firstPrompt);
  if (failed(positions))
    return failure();
  int32_t queryType = node.input(0).type;
  ArrayRef<int64_t> cacheShape = node.input(7).shape;
  if (cacheShape.size() != 2 || node.input(8).shape != cacheShape ||
      node.input(7).type != queryType || node.input(8).type != queryType)
    return node.fail("cos_cache and sin_cache must be [positions, "
                     "rotary/2] of the query's type");
  int64_t rotaryDim = 2 * cacheShape[1];
  if (rotaryDim > headSize || rotaryDim == 0)
    return node.fail("the rotary caches are wider than half the head size");
  bool interleaved = getIntAttr(node.node, "rotary_interleaved", 0) != 0;
  queryPart = buildRotary(g, queryPart, heads, rotaryDim, interleaved,
                          node.operand(7), node.operand(8), *positions);
  keyPart = buildRotary(g, keyPart, kvHeads, rotaryDim, interleaved,
                        node.operand(7), node.operand(8), *positions);
  return success();
}

LogicalResult GroupQueryAttentionEmitter::emitAttention() {
  Value keys = splitHeads(g, keyPart, kvHeads);
  Value values = splitHeads(g, valuePart, kvHeads);
  Value presentKey = buildPresent(g, hasPast ? node.operand(3) : Value(), keys,
                                  node.operand(5), length);
  Value presentValue = buildPresent(g, hasPast ? node.operand(4) : Value(),
                                    values, node.operand(5), length);
  // Valid tokens per sequence, for the causal frontier and the padding.
  int32_t seqlensType = node.input(5).type;
  Value tokens = buildBroadcastGeneric(
      g, {node.operand(5)}, node.input(5).shape, g.b.getI64Type(),
      [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
        Value wide =
            convertScalar(b, loc, args[0], seqlensType, kInt64, b.getI64Type());
        Value one = arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(1));
        return arith::AddIOp::create(b, loc, wide, one);
      });
  AttentionOperands a;
  a.query = splitHeads(g, queryPart, heads);
  a.key = presentKey;
  a.value = presentValue;
  a.nonpad = tokens;
  a.causal = true;
  a.scale = getOptionalFloatAttr(node.node, "scale");
  a.softcap = getFloatAttr(node.node, "softcap", 0.0f);
  FailureOr<Operation *> op = buildAttention(node, a);
  if (failed(op))
    return failure();
  int32_t queryType = node.input(0).type;
  node.setResult(0, mergeHeads(g, (*op)->getResult(0)), queryType);
  node.setResult(1, presentKey, queryType);
  node.setResult(2, presentValue, queryType);
  return success();
}
} // namespace

std::optional<LogicalResult>
mlir::hgc::onnx::emitMicrosoftAttentionNode(NodeEmitter &node) {
  if (node.node.op_type() == "MultiHeadAttention")
    return emitMultiHeadAttention(node);
  if (node.node.op_type() == "GroupQueryAttention")
    return GroupQueryAttentionEmitter(node).emit();
  return std::nullopt;
}
