//===- QuestPolicy.cpp - top host blocks from key summaries (Quest) -------===//

#include "passes/policies/PlacementPolicy.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::hgc;

namespace {
class QuestPolicy final : public PlacementPolicy {
public:
  StringRef getName() const override { return "quest"; }
  StringRef getSummary() const override {
    return "the host tier attends its top blocks, scored from per-block key "
           "min/max summaries";
  }
  bool usesBlocks() const override { return true; }
  bool readsKeySummaries() const override { return true; }
  FailureOr<TierPolicyAttr>
  buildHostTier(MLIRContext *context, const PlacementOptions &options,
                function_ref<InFlightDiagnostic()> emitError) const override {
    // checkPlacementOptions checked that the block is a power of two.
    return buildBudgetedHostTier(
        context, options, {Selection::BlockTopK, options.block}, emitError);
  }
};
} // namespace

const PlacementPolicy &hgc::getQuestPolicy() {
  static const QuestPolicy policy;
  return policy;
}
