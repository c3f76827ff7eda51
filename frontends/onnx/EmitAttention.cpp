//===- EmitAttention.cpp - ONNX Attention to hgc.attention; dispatch -----===//

#include "frontends/onnx/AttentionBuilder.h"

#include "dialect/HgcOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Verifier.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

FailureOr<Operation *>
mlir::hgc::onnx::buildAttention(NodeEmitter &node, const AttentionOperands &a) {
  GraphBuilder &g = node.g;
  auto q = cast<RankedTensorType>(a.query.getType());
  auto k = cast<RankedTensorType>(a.key.getType());
  auto v = cast<RankedTensorType>(a.value.getType());
  if (!isa<FloatType>(q.getElementType()) ||
      k.getElementType() != q.getElementType() ||
      v.getElementType() != q.getElementType())
    return (void)node.fail("Q, K and V must be floating point of one type"),
           failure();
  int64_t rank = q.getRank();
  if ((rank != 3 && rank != 4) || k.getRank() != rank || v.getRank() != rank)
    return (void)node.fail("Q, K and V must all be 3-D or all 4-D"), failure();
  int64_t batch = q.getDimSize(0), qHeads, kvHeads, qSeq, kvSeq, headSize,
          valueSize;
  if (rank == 4) {
    qHeads = q.getDimSize(1);
    kvHeads = k.getDimSize(1);
    qSeq = q.getDimSize(2);
    kvSeq = k.getDimSize(2);
    headSize = k.getDimSize(3);
    valueSize = v.getDimSize(3);
  } else {
    if (!a.qHeads || !a.kvHeads || *a.qHeads <= 0 || *a.kvHeads <= 0)
      return (void)node.fail("3-D inputs need positive q_num_heads and "
                             "kv_num_heads"),
             failure();
    qHeads = *a.qHeads;
    kvHeads = *a.kvHeads;
    qSeq = q.getDimSize(1);
    kvSeq = k.getDimSize(1);
    if (k.getDimSize(2) % kvHeads || v.getDimSize(2) % kvHeads)
      return (void)node.fail("K/V hidden sizes are not multiples of "
                             "kv_num_heads"),
             failure();
    headSize = k.getDimSize(2) / kvHeads;
    valueSize = v.getDimSize(2) / kvHeads;
  }
  if (bool(a.pastKey) != bool(a.pastValue))
    return (void)node.fail("past_key and past_value come together"), failure();
  int64_t past = 0;
  if (a.pastKey) {
    auto pastType = cast<RankedTensorType>(a.pastKey.getType());
    if (pastType.getRank() != 4 ||
        cast<RankedTensorType>(a.pastValue.getType()).getRank() != 4)
      return (void)node.fail("past_key and past_value must be 4-D"), failure();
    past = pastType.getDimSize(2);
  }
  int64_t total = ShapedType::isDynamic(past) || ShapedType::isDynamic(kvSeq)
                      ? ShapedType::kDynamic
                      : past + kvSeq;
  Type element = q.getElementType();

  SmallVector<Value> operands = {a.query, a.key, a.value};
  SmallVector<int32_t> operandSegments = {1, 1, 1, 0, 0, 0, 0};
  for (auto [value, segment] :
       {std::pair(a.mask, 3), std::pair(a.pastKey, 4),
        std::pair(a.pastValue, 5), std::pair(a.nonpad, 6)})
    if (value) {
      operands.push_back(value);
      operandSegments[segment] = 1;
    }
  SmallVector<int64_t> yShape =
      rank == 4 ? SmallVector<int64_t>{batch, qHeads, qSeq, valueSize}
                : SmallVector<int64_t>{batch, qSeq, qHeads * valueSize};
  SmallVector<Type> results = {RankedTensorType::get(yShape, element)};
  SmallVector<int32_t> resultSegments = {1, 0, 0, 0};
  if (a.wantsPresent) {
    results.push_back(
        RankedTensorType::get({batch, kvHeads, total, headSize}, element));
    results.push_back(
        RankedTensorType::get({batch, kvHeads, total, valueSize}, element));
    resultSegments[1] = resultSegments[2] = 1;
  }
  if (a.wantsQk) {
    results.push_back(
        RankedTensorType::get({batch, qHeads, qSeq, total}, element));
    resultSegments[3] = 1;
  }

  OperationState state(g.loc, hgc::AttentionOp::getOperationName());
  state.addOperands(operands);
  state.addTypes(results);
  Builder &b = g.b;
  state.addAttribute("operandSegmentSizes",
                     b.getDenseI32ArrayAttr(operandSegments));
  state.addAttribute("resultSegmentSizes",
                     b.getDenseI32ArrayAttr(resultSegments));
  if (a.qHeads)
    state.addAttribute("q_num_heads", b.getI64IntegerAttr(*a.qHeads));
  if (a.kvHeads)
    state.addAttribute("kv_num_heads", b.getI64IntegerAttr(*a.kvHeads));
  if (a.scale)
    state.addAttribute("scale", b.getF32FloatAttr(*a.scale));
  if (a.causal)
    state.addAttribute("is_causal", b.getBoolAttr(true));
  if (a.softcap != 0.0f)
    state.addAttribute("softcap", b.getF32FloatAttr(a.softcap));
  if (a.qkMode)
    state.addAttribute("qk_matmul_output_mode", b.getI64IntegerAttr(a.qkMode));
  if (a.softmaxPrecision)
    state.addAttribute("softmax_precision",
                       b.getI64IntegerAttr(*a.softmaxPrecision));
  Operation *op = g.b.create(state);
  if (failed(mlir::verify(op)))
    return failure(); // the verifier reported at the node's location
  return op;
}

std::pair<Value, Value>
mlir::hgc::onnx::appendPastInPlace(GraphBuilder &g, AttentionOperands &a) {
  auto append = [&](Value &past, Value &current) -> Value {
    if (!past || cast<RankedTensorType>(current.getType()).getRank() != 4)
      return Value();
    OpFoldResult pastLength = g.mixedSizes(past)[2];
    SmallVector<OpFoldResult> currentSizes = g.mixedSizes(current);
    Value present = g.appendInPlace(past, current, /*axis=*/2);
    if (!present)
      return Value();
    SmallVector<OpFoldResult> zeros(4, g.b.getIndexAttr(0)),
        ones(4, g.b.getIndexAttr(1)), offsets = zeros,
                                      pastSizes = g.mixedSizes(present);
    pastSizes[2] = pastLength;
    offsets[2] = pastLength;
    past = tensor::ExtractSliceOp::create(g.b, g.loc, present, zeros, pastSizes,
                                          ones);
    current = tensor::ExtractSliceOp::create(g.b, g.loc, present, offsets,
                                             currentSizes, ones);
    return present;
  };
  Value key = append(a.pastKey, a.key);
  Value value = append(a.pastValue, a.value);
  if (key && value)
    a.wantsPresent = false;
  return {key, value};
}

Value mlir::hgc::onnx::splitHeads(GraphBuilder &g, Value value, int64_t heads) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<OpFoldResult> sizes = g.mixedSizes(value); // batch, seq, hidden
  OpFoldResult headCount = g.b.getIndexAttr(heads),
               head = g.b.getIndexAttr(type.getDimSize(2) / heads);
  Value bshd = buildReshape(g, value, {sizes[0], sizes[1], headCount, head});
  Value init = g.emptyTensor({sizes[0], headCount, sizes[1], head},
                             type.getElementType());
  return linalg::TransposeOp::create(g.b, g.loc, bshd, init,
                                     ArrayRef<int64_t>{0, 2, 1, 3})
      ->getResult(0);
}

Value mlir::hgc::onnx::mergeHeads(GraphBuilder &g, Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<OpFoldResult> sizes = g.mixedSizes(value); // b, heads, s, head
  Value init = g.emptyTensor({sizes[0], sizes[2], sizes[1], sizes[3]},
                             type.getElementType());
  Value bshd = linalg::TransposeOp::create(g.b, g.loc, value, init,
                                           ArrayRef<int64_t>{0, 2, 1, 3})
                   ->getResult(0);
  return buildReshape(
      g, bshd,
      {sizes[0], sizes[2],
       g.b.getIndexAttr(type.getDimSize(1) * type.getDimSize(3))});
}

namespace {
/// Sets the node's outputs from an hgc.attention built with `a`, the
/// presents from `appended` where written in place.
LogicalResult setAttentionResults(NodeEmitter &node, Operation *op,
                                  const AttentionOperands &a,
                                  std::pair<Value, Value> appended,
                                  int32_t type) {
  node.setResult(0, op->getResult(0), type);
  unsigned next = 1;
  if (a.wantsPresent) {
    node.setResult(1, op->getResult(next++), type);
    node.setResult(2, op->getResult(next++), type);
  }
  if (appended.first)
    node.setResult(1, appended.first, type);
  if (appended.second)
    node.setResult(2, appended.second, type);
  if (a.wantsQk)
    node.setResult(3, op->getResult(next), type);
  return success();
}

Value optionalOperand(NodeEmitter &node, size_t i) {
  return node.hasInput(i) ? node.operand(i) : Value();
}

/// Opset 23/24 `Attention`: inputs Q, K, V, attn_mask, past_key, past_value,
/// nonpad_kv_seqlen; outputs Y, present_key, present_value,
/// qk_matmul_output.
LogicalResult emitAttention(NodeEmitter &node) {
  for (size_t i = 0; i < 3; ++i)
    if (!node.hasInput(i))
      return node.fail("needs Q, K and V");
  if (node.hasInput(6) && node.g.opset < 24)
    return node.fail("nonpad_kv_seqlen needs opset 24");
  AttentionOperands a;
  a.query = node.operand(0);
  a.key = node.operand(1);
  a.value = node.operand(2);
  a.mask = optionalOperand(node, 3);
  a.pastKey = optionalOperand(node, 4);
  a.pastValue = optionalOperand(node, 5);
  a.nonpad = optionalOperand(node, 6);
  a.qHeads = getOptionalIntAttr(node.node, "q_num_heads");
  a.kvHeads = getOptionalIntAttr(node.node, "kv_num_heads");
  a.scale = getOptionalFloatAttr(node.node, "scale");
  a.causal = getIntAttr(node.node, "is_causal", 0) != 0;
  a.softcap = getFloatAttr(node.node, "softcap", 0.0f);
  a.qkMode = getIntAttr(node.node, "qk_matmul_output_mode", 0);
  a.softmaxPrecision = getOptionalIntAttr(node.node, "softmax_precision");
  a.wantsPresent = node.wantsOutput(1) || node.wantsOutput(2);
  a.wantsQk = node.wantsOutput(3);
  std::pair<Value, Value> appended = appendPastInPlace(node.g, a);
  FailureOr<Operation *> op = buildAttention(node, a);
  if (failed(op))
    return failure();
  return setAttentionResults(node, *op, a, appended, node.input(0).type);
}
} // namespace

std::optional<LogicalResult>
mlir::hgc::onnx::emitAttentionNode(NodeEmitter &node) {
  const std::string &domain = node.node.domain();
  if (node.node.op_type() == "Attention" &&
      (domain.empty() || domain == "ai.onnx"))
    return emitAttention(node);
  if (domain == "com.microsoft")
    return emitMicrosoftAttentionNode(node);
  return std::nullopt;
}

LogicalResult mlir::hgc::onnx::emitNode(NodeEmitter &node) {
  bool standard = node.node.domain().empty() || node.node.domain() == "ai.onnx";
  if (standard) {
    for (auto emit : {emitElementwiseNode, emitStructuralNode, emitIndexingNode,
                      emitComputeNode, emitTransformerNode})
      if (std::optional<LogicalResult> result = emit(node))
        return *result;
  }
  if (node.node.domain() == "com.microsoft")
    if (std::optional<LogicalResult> result = emitTransformerNode(node))
      return *result;
  if (std::optional<LogicalResult> result = emitAttentionNode(node))
    return *result;
  return node.fail("unsupported ONNX op '" + node.node.op_type() +
                   "' in domain '" +
                   (node.node.domain().empty() ? std::string("ai.onnx")
                                               : node.node.domain()) +
                   "'");
}
