//===- HgcaPolicy.cpp - exact top-k host tokens (HGCA) --------------------===//

#include "passes/policies/PlacementPolicy.h"

using namespace mlir;
using namespace mlir::hgc;

namespace {
class HgcaPolicy final : public PlacementPolicy {
public:
  StringRef getName() const override { return "hgca"; }
  StringRef getSummary() const override {
    return "the host tier attends its top-k tokens by exact scores";
  }
  FailureOr<TierPolicyAttr>
  buildHostTier(MLIRContext *context, const PlacementOptions &options,
                function_ref<InFlightDiagnostic()> emitError) const override {
    return buildBudgetedHostTier(context, options, {Selection::ExactTopK},
                                 emitError);
  }
};
} // namespace

const PlacementPolicy &hgc::getHgcaPolicy() {
  static const HgcaPolicy policy;
  return policy;
}
