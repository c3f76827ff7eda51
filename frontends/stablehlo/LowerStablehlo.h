//===- LowerStablehlo.h - pieces of the StableHLO lowering ------*- C++ -*-===//

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

/// Replaces while, case and if by scf ops holding their regions (ops inside
/// left for the caller to lower) and optimization_barrier by its operands;
/// false, and nothing changed, for any other op.
bool lowerControlFlow(RewriterBase &rewriter, Operation *op);
} // namespace mlir::hgc::shlo

#endif // HGC_FRONTENDS_STABLEHLO_LOWERSTABLEHLO_H
