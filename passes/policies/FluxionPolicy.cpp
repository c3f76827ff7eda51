//===- FluxionPolicy.cpp - per-head budgets and granularity (Fluxion) -----===//
//
// Fluxion's output-aware placement: each KV head gets its own share of a
// total host budget and its own granularity (tokens, or blocks of 16, 32
// or 64), chosen by a calibration over the head's real scores
// (FluxionCalibration.h) and compiled as per-head overrides. Before a
// calibration (a compiled model, or the JIT's first step) every head attends
// its exact top tokens. Its tail is estimated by default (tail = auto):
// fluxion is hgc's most accurate placement for a budget.
//
//===----------------------------------------------------------------------===//

#include "passes/policies/PlacementPolicy.h"

using namespace mlir;
using namespace mlir::hgc;

namespace {
class FluxionPolicy final : public PlacementPolicy {
public:
  StringRef getName() const override { return "fluxion"; }
  StringRef getSummary() const override {
    return "per-KV-head budgets and granularity calibrated on the head's "
           "scores (JIT), the total budget shared; the rest estimated";
  }
  Tail getDefaultTail() const override { return Tail::Summary; }
  bool calibrates() const override { return true; }
  /// Uncalibrated, every head is hgca's; the JIT's plans override heads.
  FailureOr<TierPolicyAttr>
  buildHostTier(MLIRContext *context, const PlacementOptions &options,
                function_ref<InFlightDiagnostic()> emitError) const override {
    return getHgcaPolicy().buildHostTier(context, options, emitError);
  }
};
} // namespace

const PlacementPolicy &hgc::getFluxionPolicy() {
  static const FluxionPolicy policy;
  return policy;
}
