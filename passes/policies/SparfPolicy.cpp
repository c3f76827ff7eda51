//===- SparfPolicy.cpp - top tokens on the query's largest channels -------===//
//
// InstInfer's SparF, after SparQ: the host (and storage) tier scores its
// tokens on the `channels` query channels of largest magnitude only, attends
// the top-budget tokens exactly, and folds the tokens it left out in as the
// mean of the tier's values, weighted by the share of the softmax mass the
// approximate scores give them. Built for the slowest tiers, where reading
// r of head_dim channels of each key is what a step can afford.
//
//===----------------------------------------------------------------------===//

#include "passes/policies/PlacementPolicy.h"

using namespace mlir;
using namespace mlir::hgc;

namespace {
class SparfPolicy final : public PlacementPolicy {
public:
  StringRef getName() const override { return "sparf"; }
  StringRef getSummary() const override {
    return "the host tier scores tokens on the query's largest channels, "
           "attends the top budget and folds the rest in as the mean value";
  }
  bool usesChannels() const override { return true; }
  bool readsChannelKeys() const override { return true; }
  FailureOr<TierPolicyAttr>
  buildHostTier(MLIRContext *context, const PlacementOptions &options,
                function_ref<InFlightDiagnostic()> emitError) const override {
    // checkPlacementOptions checked that channels are positive.
    HostSelection how{Selection::ChannelTopK};
    how.channels = options.channels;
    return buildBudgetedHostTier(context, options, how, emitError);
  }
};
} // namespace

const PlacementPolicy &hgc::getSparfPolicy() {
  static const SparfPolicy policy;
  return policy;
}
