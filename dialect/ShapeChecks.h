//===- ShapeChecks.h - shape rules shared by hgc verifiers ------*- C++ -*-===//
//
// Small helpers that compare (possibly dynamic) dimensions and emit one
// diagnostic naming the operand and both shapes.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_DIALECT_SHAPECHECKS_H
#define HGC_DIALECT_SHAPECHECKS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"

namespace mlir::hgc {

/// `a + b`, dynamic if either is.
int64_t addDims(int64_t a, int64_t b);
/// `a * b`, dynamic if either is.
int64_t mulDims(int64_t a, int64_t b);

/// Fails with "NAME (A) must equal OTHER (B)" when both are static and differ.
LogicalResult verifyDim(Operation *op, StringRef name, int64_t actual,
                        StringRef otherName, int64_t expected);

/// Fails unless `type` is a ranked tensor of `expected`'s rank whose
/// dimensions match wherever both sides are static.
LogicalResult verifyShape(Operation *op, StringRef name, Type type,
                          ArrayRef<int64_t> expected);

/// Fails unless `type` (rank <= target rank) broadcasts to `target` under
/// numpy rules: aligned from the right, each dimension 1 or equal.
LogicalResult verifyBroadcastable(Operation *op, StringRef name,
                                  ShapedType type, ArrayRef<int64_t> target);

/// Checks a partial attention result: `output` has `outputShape` and `lse`
/// is shaped like `output` without its last dimension.
LogicalResult verifyPartial(Operation *op, RankedTensorType output,
                            RankedTensorType lse,
                            ArrayRef<int64_t> outputShape);

} // namespace mlir::hgc

#endif // HGC_DIALECT_SHAPECHECKS_H
