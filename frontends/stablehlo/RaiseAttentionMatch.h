//===- RaiseAttentionMatch.h - attention found in StableHLO -----*- C++ -*-===//

#ifndef HGC_FRONTENDS_STABLEHLO_RAISEATTENTIONMATCH_H
#define HGC_FRONTENDS_STABLEHLO_RAISEATTENTIONMATCH_H

#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/IR/PatternMatch.h"

#include "llvm/ADT/DenseMap.h"

namespace mlir::hgc::shlo {
/// Roles of attention's axes.
enum Role : int { Batch, KvHead, Group, Query, Key, HeadDim, ValueDim };

/// The mask on the logits: select(pred, S, fill) or S + bias.
struct Mask {
  Value value; // on the logits' shape at its op
  SmallVector<int> labels;
  bool isSelect;
  double fill;
};

/// Attention around a P x V dot_general: Q, K, V (and the mask) with the
/// role of each axis, and where hgc.attention's output axes go in P x V's
/// result.
struct AttentionMatch {
  DotGeneralOp pv;
  Value query, key, value;
  SmallVector<Role> queryRoles, keyRoles, valueRoles;
  std::optional<Mask> mask;
  SmallVector<Role> maskRoles;
  double scale = 1.0;
  Type element;
  llvm::DenseMap<int, int64_t> sizes;
  /// The output as [B, KV heads, group, query, value dim] ...
  SmallVector<int64_t> grouped;
  /// ... permuted by `permutation` into `permuted`, P x V's axis order.
  SmallVector<int64_t> permutation, permuted;

  /// The size of the axis with `role`, 1 when no operand has one.
  int64_t sizeOf(Role role) const { return sizes.lookup_or(role, 1); }
};

/// The attention whose P x V is `pv`, or a match failure told to `rewriter`.
FailureOr<AttentionMatch> matchAttention(DotGeneralOp pv,
                                         PatternRewriter &rewriter);
} // namespace mlir::hgc::shlo

#endif // HGC_FRONTENDS_STABLEHLO_RAISEATTENTIONMATCH_H
