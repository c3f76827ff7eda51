//===- HcaPolicy.cpp - host tokens kept by mass from key codes (HCA) ------===//
//
// HCAttention scores the host tier's keys from compact codes instead of the
// full-precision keys (int8 with one scale per token, as the KV runtime
// keeps them on append), keeps the fewest top-scoring tokens whose softmax
// mass under those scores reaches tau (the budget a hard cap), and attends
// the kept tokens exactly.
//
//===----------------------------------------------------------------------===//

#include "passes/policies/PlacementPolicy.h"

#include <cmath>

using namespace mlir;
using namespace mlir::hgc;

namespace {
/// The KV runtime keeps int8 codes (hgc_rt_kv_config.quantize_keys).
constexpr int64_t kCodeBits = 8;

class HcaPolicy final : public PlacementPolicy {
public:
  StringRef getName() const override { return "hca"; }
  StringRef getSummary() const override {
    return "the host tier scores tokens from int8 key codes and attends the "
           "fewest whose softmax mass reaches tau (at most the budget)";
  }
  bool usesMass() const override { return true; }
  bool readsKeyCodes() const override { return true; }
  FailureOr<TierPolicyAttr>
  buildHostTier(MLIRContext *context, const PlacementOptions &options,
                function_ref<InFlightDiagnostic()> emitError) const override {
    if (!std::isfinite(options.tau) || options.tau <= 0.0 || options.tau > 1.0)
      return emitError() << "tau must be in (0, 1], got " << options.tau,
             failure();
    return buildBudgetedHostTier(
        context, options,
        {Selection::QuantTopK, /*block=*/0, kCodeBits, options.tau}, emitError);
  }
};
} // namespace

const PlacementPolicy &hgc::getHcaPolicy() {
  static const HcaPolicy policy;
  return policy;
}
