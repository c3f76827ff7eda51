//===- ScoutPolicy.cpp - Quest's blocks, selected a layer ahead (Scout) ---===//
//
// ScoutAttention attends the host tier's top blocks like Quest, but selects
// layer l+1's blocks while layer l runs, from a query predicted from layer
// l's residual input: compiled programs get hgc-select-ahead after placement
// (passes/SelectAhead.cpp); the JIT's engines call hgc_select_ahead and
// hgc_decode_selected, and its caches can recall hot pages periodically.
//
//===----------------------------------------------------------------------===//

#include "passes/policies/PlacementPolicy.h"

using namespace mlir;
using namespace mlir::hgc;

namespace {
class ScoutPolicy final : public PlacementPolicy {
public:
  StringRef getName() const override { return "scout"; }
  StringRef getSummary() const override {
    return "the host tier attends its top blocks as quest does, chosen one "
           "layer ahead from a query predicted from the layer before";
  }
  bool usesBlocks() const override { return true; }
  bool readsKeySummaries() const override { return true; }
  bool selectsAhead() const override { return true; }
  FailureOr<TierPolicyAttr>
  buildHostTier(MLIRContext *context, const PlacementOptions &options,
                function_ref<InFlightDiagnostic()> emitError) const override {
    return getQuestPolicy().buildHostTier(context, options, emitError);
  }
};
} // namespace

const PlacementPolicy &hgc::getScoutPolicy() {
  static const ScoutPolicy policy;
  return policy;
}
