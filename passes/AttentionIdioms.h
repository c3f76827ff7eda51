//===- AttentionIdioms.h - attention as exporters write it ------*- C++ -*-===//
//
// The pieces of the graph exporters write for attention, as hgc-raise-attention
// matches them in linalg: the two batched contractions, splat scalings, soft
// caps, float casts, head repeats and the NaN guard after the softmax; and
// the few ops the raise builds to undo a layout (transposes, casts).
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_ATTENTIONIDIOMS_H
#define HGC_PASSES_ATTENTIONIDIOMS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

#include <optional>

namespace mlir::hgc::raise {

/// A batched contraction out = lhs x rhs over two batch dims, with its
/// operands in [batch0, batch1, rows, reduced] and [batch0, batch1, reduced,
/// cols] or transposed layouts.
struct Contraction {
  Value lhs, rhs;
  /// rhs is given as [b0, b1, cols, reduced] (e.g. K for Q K^T).
  bool rhsIsTransposed;
};

/// The splat float value of `v`, looking through linalg.fill.
std::optional<double> getSplat(Value v);

/// Matches `op` as a 4-D contraction with zero-initialized accumulator.
FailureOr<Contraction> matchContraction(Operation *op);

/// Swaps the last two axes of a 4-D tensor.
Value transposeLastTwo(PatternRewriter &rewriter, Location loc, Value v);

/// The KV heads behind an ONNX-style head repeat ([h0, h0, h1, h1, ...]):
/// collapse_shape [[0], [1, 2], [3], [4]] of a broadcast adding axis 2.
Value lookThroughHeadRepeat(Value v);

/// The single-block body of an all-parallel `generic` with identity output
/// map when it is one op of type `OpTy` yielded; null otherwise.
template <typename OpTy> OpTy getSoleBodyOp(linalg::GenericOp generic) {
  if (generic.getNumDpsInits() != 1 ||
      generic.getNumParallelLoops() != generic.getNumLoops() ||
      !generic.getIndexingMapsArray().back().isIdentity())
    return nullptr;
  Block &body = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto inner = yield.getValues()[0].getDefiningOp<OpTy>();
  return inner && &body.front() == inner.getOperation() ? inner : nullptr;
}

/// A binary elementwise linalg.generic `out = x OP y` (all loops parallel,
/// identity output map, body one `OpTy` of the two inputs), as an exporter's
/// Mul/Add/Div imports: its operands and their indexing maps.
struct Elementwise {
  Value x, y;
  AffineMap xMap, yMap;
};
template <typename OpTy>
std::optional<Elementwise> matchElementwise(Operation *op) {
  auto generic = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!generic || generic.getNumDpsInputs() != 2)
    return std::nullopt;
  Block &body = generic.getRegion().front();
  OpTy inner = getSoleBodyOp<OpTy>(generic);
  if (!inner || inner->getOperand(0) != body.getArgument(0) ||
      inner->getOperand(1) != body.getArgument(1))
    return std::nullopt;
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  return Elementwise{generic.getDpsInputs()[0], generic.getDpsInputs()[1],
                     maps[0], maps[1]};
}

/// True when `map` reads a tensor of `type` broadcast numpy-style (aligned
/// to the right) over the loops: what hgc.attention's mask accepts.
bool isRightAlignedBroadcast(AffineMap map, RankedTensorType type);

/// `v` without a scaling by a splat constant (`v * c`, `c * v`), folding c
/// into `scale`; only when the scaling has no other use.
Value peelScale(Value v, double &scale);

/// The source of a float precision cast (`arith.extf`/`arith.truncf` in an
/// elementwise generic, as ONNX Cast and f16 MatMul's rounding import), or
/// null. Attention in f16 keeps its scores in f32 where the graph rounds
/// them to f16 in between: raising drops such round trips.
Value getFloatCastSource(Value v);

/// `v` with float precision casts peeled off.
Value peelFloatCasts(Value v);

/// `v` with its float elements converted to `element` (extf or truncf).
Value castElements(PatternRewriter &rewriter, Location loc, Value v,
                   Type element);

/// The guard torch's exporters put after the softmax of scaled dot-product
/// attention, `where(isnan(p), 0, p)` (a fully masked row gives 0 instead
/// of NaN): its result when `probabilities` feeds exactly that. hgc.attention
/// already gives fully masked rows 0, so the guard folds into the raise.
Value matchNanGuard(Value probabilities);

/// A soft cap `c * tanh(x / c)` (or `tanh(x * (1/c)) * c`), as Gemma-style
/// models write it between the two contractions: x, with `softcap` set to
/// c; null when `op` is not one or a cap was already found.
Value matchSoftcap(Operation *op, double &softcap);

/// True for values on the Q K^T side of a mask add: the contraction itself
/// or a scaling of it.
bool isScoresSide(Value v);

} // namespace mlir::hgc::raise

#endif // HGC_PASSES_ATTENTIONIDIOMS_H
