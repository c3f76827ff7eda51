//===- ThroughputPlan.h - `hgc plan --hardware` ------------------*- C++
//-*-===//

#ifndef HGC_TOOLS_HGC_THROUGHPUTPLAN_H
#define HGC_TOOLS_HGC_THROUGHPUTPLAN_H

#include "passes/PlacementOptions.h"
#include "passes/cost/ThroughputModel.h"

#include "llvm/Support/raw_ostream.h"

#include <vector>

namespace mlir::hgc {

/// What the hybrid rows cover: each of `policies` at each of `budgets`,
/// with the rest of `placement` (sink, window, block, ...).
struct HybridSweep {
  PlacementOptions placement;
  std::vector<std::string> policies;
  std::vector<std::string> budgets;
  /// After each hybrid row, the hybrid at the window the split scheduler
  /// settles on (a profile with a GPU).
  bool balance = false;
};

/// Prints (or writes as JSON) one row per strategy of `query`: gpu-only,
/// offload-only, cpu-attention, then the hybrid at each policy and budget
/// of `sweep` (each followed by its scheduler-balanced row when asked), with
/// the device's tokens per sequence, per-step time, tokens/s and the ratio to
/// offload-only, and the model's assumptions. A failure is reported through
/// `emitError`.
LogicalResult printThroughputPlan(MLIRContext *context,
                                  const ThroughputQuery &query,
                                  const HybridSweep &sweep, bool asJson,
                                  llvm::raw_ostream &os,
                                  function_ref<InFlightDiagnostic()> emitError);

} // namespace mlir::hgc

#endif // HGC_TOOLS_HGC_THROUGHPUTPLAN_H
