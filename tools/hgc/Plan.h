//===- Plan.h - the placement plan of a model's attention -------*- C++ -*-===//

#ifndef HGC_TOOLS_HGC_PLAN_H
#define HGC_TOOLS_HGC_PLAN_H

#include "codegen/Pipelines.h"
#include "passes/PlacementOptions.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/raw_ostream.h"

namespace mlir::hgc {

/// Runs raise -> bind -> place on `module` and prints, per attention op,
/// its heads and, per tier, the resident tokens and bytes and how the tier
/// is read (dense, or the selection and its budget); for target nvptx also
/// the device kernel's launch shape.
LogicalResult printPlan(ModuleOp module, const PlacementOptions &options,
                        const TargetOptions &target, llvm::raw_ostream &os);

} // namespace mlir::hgc

#endif // HGC_TOOLS_HGC_PLAN_H
