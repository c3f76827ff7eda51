//===- Plan.h - the placement plan of a model's attention -------*- C++ -*-===//

#ifndef HGC_TOOLS_HGC_PLAN_H
#define HGC_TOOLS_HGC_PLAN_H

#include "passes/PlacementOptions.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/raw_ostream.h"

namespace mlir::hgc {

/// Runs raise -> bind -> place on `module` and prints, per attention op,
/// its heads and, per tier, the resident tokens and bytes and how the tier
/// is read (dense, or the selection and its budget).
LogicalResult printPlan(ModuleOp module, const PlacementOptions &options,
                        llvm::raw_ostream &os);

} // namespace mlir::hgc

#endif // HGC_TOOLS_HGC_PLAN_H
