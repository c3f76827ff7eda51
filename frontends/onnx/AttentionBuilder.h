//===- AttentionBuilder.h - hgc.attention from ONNX attention ops -*- C++
//-*-===//
//
// ONNX Attention, com.microsoft MultiHeadAttention and GroupQueryAttention
// all become hgc.attention; this builds it from values and attributes and
// computes the result types by ONNX's shape rules.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_FRONTENDS_ONNX_ATTENTIONBUILDER_H
#define HGC_FRONTENDS_ONNX_ATTENTIONBUILDER_H

#include "frontends/onnx/GraphBuilder.h"

namespace mlir::hgc::onnx {

struct AttentionOperands {
  Value query, key, value;                // required
  Value mask, pastKey, pastValue, nonpad; // optional
  std::optional<int64_t> qHeads, kvHeads; // required for 3-D inputs
  std::optional<float> scale;
  bool causal = false;
  float softcap = 0.0f;
  int64_t qkMode = 0;
  std::optional<int64_t> softmaxPrecision;
  bool wantsPresent = false, wantsQk = false;
};

/// The hgc.attention op (results: Y, then present K/V and the QK output
/// when asked for), verified; failure after reporting at the node.
FailureOr<Operation *> buildAttention(NodeEmitter &node,
                                      const AttentionOperands &a);

/// Where `a`'s past key or value is an append buffer's past
/// (ImportOptions::appendBuffers) and the new one is [batch, kv_heads, seq,
/// head]: writes the new positions after the past in the buffer and points
/// the attention at both there, so the past is never copied. Returns the
/// presents so written (null where not); the op need not make them.
std::pair<Value, Value> appendPastInPlace(GraphBuilder &g,
                                          AttentionOperands &a);

/// `value` [batch, seq, heads * head] as [batch, heads, seq, head].
Value splitHeads(GraphBuilder &g, Value value, int64_t heads);
/// The inverse of splitHeads.
Value mergeHeads(GraphBuilder &g, Value value);

std::optional<LogicalResult> emitMicrosoftAttentionNode(NodeEmitter &node);

} // namespace mlir::hgc::onnx

#endif // HGC_FRONTENDS_ONNX_ATTENTIONBUILDER_H
