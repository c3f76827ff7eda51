//===- EmitAttention.cpp - ONNX Attention to hgc.attention ---------------===//

#include "frontends/onnx/GraphBuilder.h"

#include "dialect/HgcOps.h"

#include "mlir/IR/Verifier.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

namespace {
/// Where an attention node's operands are (input indices, -1 when absent)
/// and its attributes, whichever ONNX op it came from.
struct AttentionOperands {
  int mask = -1, pastKey = -1, pastValue = -1, nonpad = -1;
  std::optional<int64_t> qHeads, kvHeads; // required for 3-D inputs
  std::optional<float> scale;
  bool causal = false;
  float softcap = 0.0f;
  int64_t qkMode = 0;
  std::optional<int64_t> softmaxPrecision;
};

/// Builds hgc.attention from inputs 0-2 (Q, K, V) and `operands`; outputs
/// are Y, present_key, present_value, qk_matmul_output. Result types follow
/// the ONNX shape rules; the hgc.attention verifier checks the operands.
LogicalResult buildAttention(NodeEmitter &node, const AttentionOperands &a) {
  GraphBuilder &g = node.g;
  for (size_t i = 0; i < 3; ++i)
    if (!node.hasInput(i))
      return node.fail("needs Q, K and V");
  GraphValue &q = node.input(0), &k = node.input(1), &v = node.input(2);
  if (!isFloatType(q.type) || k.type != q.type || v.type != q.type)
    return node.fail("Q, K and V must be floating point of one type");
  size_t rank = q.shape.size();
  if ((rank != 3 && rank != 4) || k.shape.size() != rank ||
      v.shape.size() != rank)
    return node.fail("Q, K and V must all be 3-D or all 4-D");
  int64_t batch = q.shape[0], qHeads, kvHeads, qSeq, kvSeq, headSize, valueSize;
  if (rank == 4) {
    qHeads = q.shape[1];
    kvHeads = k.shape[1];
    qSeq = q.shape[2];
    kvSeq = k.shape[2];
    headSize = k.shape[3];
    valueSize = v.shape[3];
  } else {
    if (!a.qHeads || !a.kvHeads || *a.qHeads <= 0 || *a.kvHeads <= 0)
      return node.fail("3-D inputs need positive q_num_heads and "
                       "kv_num_heads");
    qHeads = *a.qHeads;
    kvHeads = *a.kvHeads;
    qSeq = q.shape[1];
    kvSeq = k.shape[1];
    if (k.shape[2] % kvHeads || v.shape[2] % kvHeads)
      return node.fail("K/V hidden sizes are not multiples of kv_num_heads");
    headSize = k.shape[2] / kvHeads;
    valueSize = v.shape[2] / kvHeads;
  }
  bool hasPast = a.pastKey >= 0 || a.pastValue >= 0;
  if (hasPast && (a.pastKey < 0 || a.pastValue < 0))
    return node.fail("past_key and past_value come together");
  int64_t past = 0;
  if (hasPast) {
    if (node.input(a.pastKey).shape.size() != 4 ||
        node.input(a.pastValue).shape.size() != 4)
      return node.fail("past_key and past_value must be 4-D");
    past = node.input(a.pastKey).shape[2];
  }
  int64_t total = past + kvSeq;

  SmallVector<Value> operands = {node.operand(0), node.operand(1),
                                 node.operand(2)};
  SmallVector<int32_t> operandSegments = {1, 1, 1, 0, 0, 0, 0};
  auto addOptional = [&](int index, size_t segment) {
    if (index < 0)
      return;
    operands.push_back(node.operand(size_t(index)));
    operandSegments[segment] = 1;
  };
  addOptional(a.mask, 3);
  addOptional(a.pastKey, 4);
  addOptional(a.pastValue, 5);
  addOptional(a.nonpad, 6);
  SmallVector<int64_t> yShape =
      rank == 4 ? SmallVector<int64_t>{batch, qHeads, qSeq, valueSize}
                : SmallVector<int64_t>{batch, qSeq, qHeads * valueSize};
  SmallVector<Type> results = {g.tensorType(yShape, q.type)};
  SmallVector<int32_t> resultSegments = {1, 0, 0, 0};
  bool wantsPresent = node.wantsOutput(1) || node.wantsOutput(2);
  if (wantsPresent) {
    results.push_back(g.tensorType({batch, kvHeads, total, headSize}, q.type));
    results.push_back(g.tensorType({batch, kvHeads, total, valueSize}, q.type));
    resultSegments[1] = resultSegments[2] = 1;
  }
  if (node.wantsOutput(3)) {
    results.push_back(g.tensorType({batch, qHeads, qSeq, total}, q.type));
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
  node.setResult(0, op->getResult(0), q.type);
  unsigned next = 1;
  if (wantsPresent) {
    node.setResult(1, op->getResult(next++), q.type);
    node.setResult(2, op->getResult(next++), q.type);
  }
  if (node.wantsOutput(3))
    node.setResult(3, op->getResult(next), q.type);
  return success();
}

/// Opset 23/24 `Attention`: inputs Q, K, V, attn_mask, past_key, past_value,
/// nonpad_kv_seqlen.
LogicalResult emitAttention(NodeEmitter &node) {
  AttentionOperands a;
  a.mask = node.hasInput(3) ? 3 : -1;
  a.pastKey = node.hasInput(4) ? 4 : -1;
  a.pastValue = node.hasInput(5) ? 5 : -1;
  a.nonpad = node.hasInput(6) ? 6 : -1;
  if (a.nonpad >= 0 && node.g.opset < 24)
    return node.fail("nonpad_kv_seqlen needs opset 24");
  a.qHeads = getOptionalIntAttr(node.node, "q_num_heads");
  a.kvHeads = getOptionalIntAttr(node.node, "kv_num_heads");
  a.scale = getOptionalFloatAttr(node.node, "scale");
  a.causal = getIntAttr(node.node, "is_causal", 0) != 0;
  a.softcap = getFloatAttr(node.node, "softcap", 0.0f);
  a.qkMode = getIntAttr(node.node, "qk_matmul_output_mode", 0);
  a.softmaxPrecision = getOptionalIntAttr(node.node, "softmax_precision");
  return buildAttention(node, a);
}

/// com.microsoft MultiHeadAttention with separate 3-D query, key and value
/// [batch, seq, heads * head]: ONNX Attention with q_num_heads =
/// kv_num_heads = num_heads, `unidirectional` as is_causal, attention_bias
/// as the additive mask, past/present as in ONNX. Packed QKV, the input
/// projection bias and key_padding_mask are rejected by name.
LogicalResult emitMultiHeadAttention(NodeEmitter &node) {
  if (!node.hasInput(0) || !node.hasInput(1) || !node.hasInput(2))
    return node.fail("needs separate query, key and value (packed QKV is not "
                     "supported)");
  if (node.hasInput(3))
    return node.fail("the input projection bias is not supported");
  if (node.hasInput(4))
    return node.fail("key_padding_mask is not supported; use attention_bias");
  for (size_t i = 8; i < node.numInputs(); ++i)
    if (node.hasInput(i))
      return node.fail("input " + std::to_string(i) + " is not supported");
  if (node.input(0).shape.size() != 3 || node.input(1).shape.size() != 3 ||
      node.input(2).shape.size() != 3)
    return node.fail("query, key and value must be 3-D [batch, seq, hidden]");
  std::optional<int64_t> heads = getOptionalIntAttr(node.node, "num_heads");
  if (!heads || *heads <= 0)
    return node.fail("needs a positive num_heads");
  AttentionOperands a;
  a.mask = node.hasInput(5) ? 5 : -1;
  a.pastKey = node.hasInput(6) ? 6 : -1;
  a.pastValue = node.hasInput(7) ? 7 : -1;
  a.qHeads = a.kvHeads = *heads;
  a.scale = getOptionalFloatAttr(node.node, "scale");
  a.causal = getIntAttr(node.node, "unidirectional", 0) != 0;
  return buildAttention(node, a);
}
} // namespace

std::optional<LogicalResult>
mlir::hgc::onnx::emitAttentionNode(NodeEmitter &node) {
  const std::string &domain = node.node.domain();
  const std::string &op = node.node.op_type();
  if (op == "Attention" && (domain.empty() || domain == "ai.onnx"))
    return emitAttention(node);
  if (op == "MultiHeadAttention" && domain == "com.microsoft")
    return emitMultiHeadAttention(node);
  return std::nullopt;
}

LogicalResult mlir::hgc::onnx::emitNode(NodeEmitter &node) {
  bool standard = node.node.domain().empty() || node.node.domain() == "ai.onnx";
  if (standard) {
    for (auto emit : {emitElementwiseNode, emitStructuralNode, emitComputeNode,
                      emitTransformerNode})
      if (std::optional<LogicalResult> result = emit(node))
        return *result;
  }
  if (std::optional<LogicalResult> result = emitAttentionNode(node))
    return *result;
  return node.fail("unsupported ONNX op '" + node.node.op_type() +
                   "' in domain '" +
                   (node.node.domain().empty() ? std::string("ai.onnx")
                                               : node.node.domain()) +
                   "'");
}
