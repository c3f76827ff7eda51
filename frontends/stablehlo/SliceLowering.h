//===- SliceLowering.h - StableHLO data movement to tensor ops --*- C++ -*-===//

#ifndef HGC_FRONTENDS_STABLEHLO_SLICELOWERING_H
#define HGC_FRONTENDS_STABLEHLO_SLICELOWERING_H

#include "frontends/stablehlo/StablehloDialect.h"

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
} // namespace mlir::hgc::shlo

#endif // HGC_FRONTENDS_STABLEHLO_SLICELOWERING_H
