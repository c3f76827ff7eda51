//===- HcaPolicy.cpp - host tokens kept by mass from key codes (HCA) ------===//
//
// HCAttention scores the host tier's keys from compact codes instead of the
// full-precision keys (int8 with one scale per token, as the KV runtime
// keeps them on append, or product-quantized codes of codebooks fitted to
// the prefill keys: `codebook`), keeps the fewest top-scoring tokens whose
// softmax mass under those scores reaches tau (the budget a hard cap), and
// attends the kept tokens exactly.
//
//===----------------------------------------------------------------------===//

#include "passes/policies/PlacementPolicy.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::hgc;

namespace {
/// The KV runtime keeps int8 codes (hgc_rt_kv_config.quantize_keys).
constexpr int64_t kCodeBits = 8;

/// The sub-spaces and centroids `codebook` spells as pq<G>x<C>; false when
/// it is not that shape.
bool parsePq(StringRef codebook, int64_t &subspaces, int64_t &centroids) {
  StringRef spec = codebook;
  if (!spec.consume_front("pq") || !spec.contains('x'))
    return false;
  auto [subspacesText, centroidsText] = spec.split('x');
  return !subspacesText.getAsInteger(10, subspaces) &&
         !centroidsText.getAsInteger(10, centroids);
}

} // namespace

FailureOr<HostSelection>
hgc::parseCodebook(StringRef codebook, double tau,
                   function_ref<InFlightDiagnostic()> emitError) {
  if (codebook == "int8")
    return HostSelection{Selection::QuantTopK, /*block=*/0, kCodeBits, tau};
  int64_t subspaces = 0, centroids = 0;
  if (!parsePq(codebook, subspaces, centroids)) {
    emitError() << "unknown codebook '" << codebook
                << "', expected int8 or pq<subspaces>x<centroids> (e.g. "
                   "pq16x256)";
    return failure();
  }
  if (subspaces <= 0 || centroids < 2 || centroids > 65536 ||
      !llvm::isPowerOf2_64(centroids)) {
    emitError() << "codebook '" << codebook
                << "': subspaces must be positive and centroids a power of "
                   "two in [2, 65536]";
    return failure();
  }
  HostSelection how{Selection::PqTopK, /*block=*/0, /*bits=*/0, tau};
  how.subspaces = subspaces;
  how.centroids = centroids;
  return how;
}

namespace {

class HcaPolicy final : public PlacementPolicy {
public:
  StringRef getName() const override { return "hca"; }
  StringRef getSummary() const override {
    return "the host tier scores tokens from int8 or product-quantized key "
           "codes and attends the fewest whose softmax mass reaches tau (at "
           "most the budget)";
  }
  bool usesMass() const override { return true; }
  bool usesCodebook() const override { return true; }
  bool readsKeyCodes(const PlacementOptions &options) const override {
    return options.codebook == "int8";
  }
  std::pair<int64_t, int64_t>
  getProductQuantizer(const PlacementOptions &options) const override {
    int64_t subspaces = 0, centroids = 0;
    if (!parsePq(options.codebook, subspaces, centroids))
      return {0, 0};
    return {subspaces, centroids};
  }
  FailureOr<TierPolicyAttr>
  buildHostTier(MLIRContext *context, const PlacementOptions &options,
                function_ref<InFlightDiagnostic()> emitError) const override {
    // checkPlacementOptions checked tau and the codebook.
    FailureOr<HostSelection> how =
        parseCodebook(options.codebook, options.tau, emitError);
    if (failed(how))
      return failure();
    return buildBudgetedHostTier(context, options, *how, emitError);
  }
};
} // namespace

const PlacementPolicy &hgc::getHcaPolicy() {
  static const HcaPolicy policy;
  return policy;
}
