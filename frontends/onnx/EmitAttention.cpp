//===- EmitAttention.cpp - ONNX Attention to hgc.attention ---------------===//

#include "frontends/onnx/GraphBuilder.h"

#include "dialect/HgcOps.h"

#include "mlir/IR/Verifier.h"

using namespace mlir;
using namespace mlir::hgc::onnx;

namespace {
/// Opset 23/24 `Attention`: inputs Q, K, V, attn_mask, past_key, past_value,
/// nonpad_kv_seqlen; outputs Y, present_key, present_value,
/// qk_matmul_output. Result types follow the ONNX shape rules; the
/// hgc.attention verifier checks the operands.
LogicalResult emitAttention(NodeEmitter &node) {
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
  std::optional<int64_t> qHeadsAttr =
      getOptionalIntAttr(node.node, "q_num_heads");
  std::optional<int64_t> kvHeadsAttr =
      getOptionalIntAttr(node.node, "kv_num_heads");
  int64_t batch = q.shape[0], qHeads, kvHeads, qSeq, kvSeq, headSize, valueSize;
  if (rank == 4) {
    qHeads = q.shape[1];
    kvHeads = k.shape[1];
    qSeq = q.shape[2];
    kvSeq = k.shape[2];
    headSize = k.shape[3];
    valueSize = v.shape[3];
  } else {
    if (!qHeadsAttr || !kvHeadsAttr || *qHeadsAttr <= 0 || *kvHeadsAttr <= 0)
      return node.fail("3-D inputs need positive q_num_heads and "
                       "kv_num_heads");
    qHeads = *qHeadsAttr;
    kvHeads = *kvHeadsAttr;
    qSeq = q.shape[1];
    kvSeq = k.shape[1];
    if (k.shape[2] % kvHeads || v.shape[2] % kvHeads)
      return node.fail("K/V hidden sizes are not multiples of kv_num_heads");
    headSize = k.shape[2] / kvHeads;
    valueSize = v.shape[2] / kvHeads;
  }
  bool hasPast = node.hasInput(4) || node.hasInput(5);
  if (hasPast && !(node.hasInput(4) && node.hasInput(5)))
    return node.fail("past_key and past_value come together");
  int64_t past = 0;
  if (hasPast) {
    if (node.input(4).shape.size() != 4)
      return node.fail("past_key must be 4-D");
    past = node.input(4).shape[2];
  }
  int64_t total = past + kvSeq;
  if (node.hasInput(6) && g.opset < 24)
    return node.fail("nonpad_kv_seqlen needs opset 24");

  SmallVector<Value> operands = {node.operand(0), node.operand(1),
                                 node.operand(2)};
  SmallVector<int32_t> operandSegments = {1, 1, 1, 0, 0, 0, 0};
  if (node.hasInput(3)) {
    operands.push_back(node.operand(3));
    operandSegments[3] = 1;
  }
  if (hasPast) {
    operands.push_back(node.operand(4));
    operands.push_back(node.operand(5));
    operandSegments[4] = operandSegments[5] = 1;
  }
  if (node.hasInput(6)) {
    operands.push_back(node.operand(6));
    operandSegments[6] = 1;
  }
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
  if (qHeadsAttr)
    state.addAttribute("q_num_heads", b.getI64IntegerAttr(*qHeadsAttr));
  if (kvHeadsAttr)
    state.addAttribute("kv_num_heads", b.getI64IntegerAttr(*kvHeadsAttr));
  if (auto scale = getOptionalFloatAttr(node.node, "scale"))
    state.addAttribute("scale", b.getF32FloatAttr(*scale));
  if (getIntAttr(node.node, "is_causal", 0))
    state.addAttribute("is_causal", b.getBoolAttr(true));
  if (float softcap = getFloatAttr(node.node, "softcap", 0.0f))
    state.addAttribute("softcap", b.getF32FloatAttr(softcap));
  if (int64_t mode = getIntAttr(node.node, "qk_matmul_output_mode", 0))
    state.addAttribute("qk_matmul_output_mode", b.getI64IntegerAttr(mode));
  if (auto precision = getOptionalIntAttr(node.node, "softmax_precision"))
    state.addAttribute("softmax_precision", b.getI64IntegerAttr(*precision));
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
} // namespace

std::optional<LogicalResult>
mlir::hgc::onnx::emitAttentionNode(NodeEmitter &node) {
  if (node.node.op_type() == "Attention" &&
      (node.node.domain().empty() || node.node.domain() == "ai.onnx"))
    return emitAttention(node);
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
