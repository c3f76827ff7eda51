//===- LowerStablehlo.h - pieces of the StableHLO lowering ------*- C++ -*-===//
//
// The lowering is a set of rewrite patterns, one family per file, applied by
// the pass as a partial dialect conversion. Every type stays as it is, so a
// pattern may read its op's own operands: the driver redirects the uses of a
// replaced value when it commits.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_FRONTENDS_STABLEHLO_LOWERSTABLEHLO_H
#define HGC_FRONTENDS_STABLEHLO_LOWERSTABLEHLO_H

#include "frontends/stablehlo/StablehloDialect.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::hgc::shlo {
/// Each op as tensor-dialect slices on a fresh or given tensor, with the
/// spec's clamping of dynamic start indices into the operand.
FailureOr<Value> lowerConcatenate(OpBuilder &b, ConcatenateOp op);
FailureOr<Value> lowerSlice(OpBuilder &b, SliceOp op);
FailureOr<Value> lowerDynamicSlice(OpBuilder &b, DynamicSliceOp op);
FailureOr<Value> lowerDynamicUpdateSlice(OpBuilder &b, DynamicUpdateSliceOp op);
FailureOr<Value> lowerPad(OpBuilder &b, PadOp op);
FailureOr<Value> lowerGather(OpBuilder &b, GatherOp op);
FailureOr<Value> lowerScatter(OpBuilder &b, ScatterOp op);

/// The scalar body of elementwise `op` on element values `args` (null when
/// `op` is not elementwise): what a scatter's or reduce's combiner does.
Value emitElementwiseScalar(OpBuilder &b, Operation *op, ValueRange args,
                            Type result);

/// The scalar `x` converted to `to` as stablehlo.convert does: floats round
/// to nearest, floats to integers truncate toward zero, i1 is unsigned
/// (true = 1), integers to i1 compare with zero.
Value convertScalar(OpBuilder &b, Location loc, Value x, Type to);
/// `lhs` compared with `rhs` as `op` says (i1 compares unsigned).
Value emitCompare(OpBuilder &b, Location loc, CompareOp op, Value lhs,
                  Value rhs);
/// sign(x): -1, 0 or 1 (floats keep the zero's sign and NaN).
Value emitSign(OpBuilder &b, Location loc, Value x);
/// Shift `op` of `args` as the spec defines it for any amount: by the bit
/// width or more (as unsigned), left and logical shifts give 0 and the
/// arithmetic one the sign (arith's shifts are poison there).
Value emitShift(OpBuilder &b, Location loc, Operation *op, ValueRange args);
/// `x` rounded to a float with `exponentBits` and `mantissaBits` and widened
/// back, on its bits as XLA does: round to nearest even in the mantissa,
/// then out-of-range exponents to signed infinity or zero (no subnormals);
/// NaN stays NaN.
Value emitReducePrecision(OpBuilder &b, Location loc, Value x, int exponentBits,
                          int mantissaBits);

/// Replaces an op by the one value `Lower` builds for it; `Lower` reports
/// its own error when it fails.
template <typename OpTy, FailureOr<Value> (*Lower)(OpBuilder &, OpTy)>
struct ReplaceWithLowered : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    FailureOr<Value> lowered = Lower(rewriter, op);
    if (failed(lowered))
      return failure();
    rewriter.replaceOp(op, *lowered);
    return success();
  }
};

/// Elementwise ops, compare, select, clamp, convert and reduce_precision as
/// linalg.generic with scalar arith/math bodies.
void populateStablehloElementwisePatterns(RewritePatternSet &patterns);
/// constant, iota, broadcast_in_dim, dot_general, reduce, reshape and
/// transpose as linalg and tensor ops.
void populateStablehloStructuralPatterns(RewritePatternSet &patterns);
/// concatenate, slice, dynamic_slice, dynamic_update_slice and pad as tensor
/// slices.
void populateStablehloSlicePatterns(RewritePatternSet &patterns);
/// gather as a linalg.generic of tensor.extracts.
void populateStablehloGatherPatterns(RewritePatternSet &patterns);
/// scatter as a loop nest over the updates.
void populateStablehloScatterPatterns(RewritePatternSet &patterns);
/// while, case and if as scf ops holding their regions (the ops inside are
/// lowered in turn), optimization_barrier as its operands.
void populateStablehloControlFlowPatterns(RewritePatternSet &patterns);
} // namespace mlir::hgc::shlo

#endif // HGC_FRONTENDS_STABLEHLO_LOWERSTABLEHLO_H
