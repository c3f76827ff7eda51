//===- PlacementPolicy.h - placement policies, one class each ---*- C++ -*-===//
//
// A placement policy decides which of a decode step's KV tokens each tier
// attends: `full` keeps every token on the device tier, `hgca` attends the
// top-k host tokens exactly, `hca` the host tokens holding tau of the
// softmax mass under scores from int8 key codes, `quest` the top host blocks
// scored from key summaries, `sparf` the top host tokens on the query's
// largest channels with the rest folded in as the mean value. Each is one class
// in passes/policies/<Name>Policy.cpp; the build lists those files
// (PolicyList.inc), and every entry point asks the registry here instead of
// comparing names: the hgc-place-kv pass, the driver, the plan, the JIT, its C
// API and the bench. docs/policies.md walks through adding one. `scout`
// selects Quest's blocks one layer ahead; `fluxion` shares a total budget
// between KV heads by calibration.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_POLICIES_PLACEMENTPOLICY_H
#define HGC_PASSES_POLICIES_PLACEMENTPOLICY_H

#include "passes/PlacementOptions.h"

#include "llvm/ADT/ArrayRef.h"

#include <string>

namespace mlir::hgc {

class PlacementPolicy {
public:
  virtual ~PlacementPolicy() = default;

  /// The name `--policy`, pass options and `hgc_attention_config.policy`
  /// use.
  virtual StringRef getName() const = 0;
  /// One line: what the host tier attends.
  virtual StringRef getSummary() const = 0;

  /// Whether the policy splits a step into tiers at all. One that does not
  /// keeps every token on the device tier and attends it densely (no sink,
  /// window or host tier); a head group it names in a hybrid placement
  /// attends its host tokens whole.
  virtual bool splits() const { return true; }
  /// Whether `PlacementOptions::block` is one of its options (checked,
  /// printed by `hgc plan`, part of its selection).
  virtual bool usesBlocks() const { return false; }
  /// Whether its selection scores blocks from per-block key summaries, so a
  /// kernel over pages of `block` tokens can read the runtime's summaries.
  virtual bool readsKeySummaries() const { return false; }
  /// Whether its selection under `options` scores tokens from per-token
  /// int8 key codes, so a program can read codes the engine or the KV
  /// runtime keeps (quantize_keys) instead of the keys.
  virtual bool readsKeyCodes(const PlacementOptions &options) const {
    return false;
  }
  /// The product quantizer its selection under `options` scores tokens
  /// with (sub-spaces, centroids), so a program reads the codes and
  /// codebooks the engine or the KV runtime keeps; {0, 0} when none.
  virtual std::pair<int64_t, int64_t>
  getProductQuantizer(const PlacementOptions &options) const {
    return {0, 0};
  }
  /// Whether its selection scores tokens on a few channels of channel-major
  /// keys and folds in a mean value, so the KV runtime keeps a channel-major
  /// key copy and per-page value sums (channel_keys) for its kernels.
  virtual bool readsChannelKeys() const { return false; }
  /// Whether compiled programs select each layer's host candidates one
  /// layer ahead, from a query predicted from the layer before
  /// (hgc-select-ahead after placement).
  virtual bool selectsAhead() const { return false; }
  /// Whether `PlacementOptions::tau` is one of its options (checked, printed
  /// by `hgc plan`): a keep rule by softmax mass.
  virtual bool usesMass() const { return false; }
  /// Whether `PlacementOptions::codebook` is one of its options.
  virtual bool usesCodebook() const { return false; }
  /// Whether `PlacementOptions::channels` is one of its options.
  virtual bool usesChannels() const { return false; }
  /// What `tail = auto` means for it.
  virtual Tail getDefaultTail() const { return Tail::None; }
  /// Whether the JIT calibrates per-head budgets and granularity for it on
  /// a cache's real scores (FluxionCalibration.h) and compiles them as
  /// per-head overrides.
  virtual bool calibrates() const { return false; }

  /// The host tier of a split placement for `options` (splits() only);
  /// a failure is reported through `emitError`.
  virtual FailureOr<TierPolicyAttr>
  buildHostTier(MLIRContext *context, const PlacementOptions &options,
                function_ref<InFlightDiagnostic()> emitError) const;
};

/// The policy named `name`, or null.
const PlacementPolicy *lookupPlacementPolicy(StringRef name);
/// Every policy, in name order.
ArrayRef<const PlacementPolicy *> getPlacementPolicies();
/// "full, hca, hgca, quest, scout or sparf": the names, for messages and help.
std::string getPlacementPolicyNames();
/// The policy of `options`, which must name a registered one (options
/// checked by buildPlacement or a configuration check).
const PlacementPolicy &getPlacementPolicy(const PlacementOptions &options);

/// get<Name>Policy() of each passes/policies/<Name>Policy.cpp.
#define HGC_PLACEMENT_POLICY(Name) const PlacementPolicy &get##Name##Policy();
#include "passes/policies/PolicyList.inc"
#undef HGC_PLACEMENT_POLICY

/// How a selecting policy's host tier chooses: the selection, its blocks of
/// `block` tokens (> 0 for block selections: the token budget then counts
/// whole blocks), the key codes' `bits` (quant_topk), the keep rule's `mass`
/// (0: keep the budget), the product quantizer's `subspaces` and
/// `centroids` (pq_topk) and the query `channels` scored (channel_topk).
struct HostSelection {
  Selection selection;
  int64_t block = 0, bits = 0;
  double mass = 0.0;
  int64_t subspaces = 0, centroids = 0, channels = 0;
};

/// What a KV runtime cache made for `options`' policy keeps with its KV
/// (pages of `pageTokens`): int8 codes when the policy scores them,
/// channel-major keys and per-page value sums for a channel selection, no
/// block moments. The JIT's and the throughput model's read model.
KeptWithKV getKeptByKVRuntime(const PlacementOptions &options,
                              int64_t pageTokens);

/// `codebook` as hca's selection: int8 codes, or pq<G>x<C> (G sub-spaces of
/// C centroids, a power of two in [2, 65536]); a failure reported through
/// `emitError` (HcaPolicy.cpp).
FailureOr<HostSelection>
parseCodebook(StringRef codebook, double tau,
              function_ref<InFlightDiagnostic()> emitError);

/// The tail `options` ask for, `auto` resolved by their policy (which must
/// be registered); a failure reported through `emitError`.
FailureOr<Tail> parseTailOption(const PlacementOptions &options,
                                function_ref<InFlightDiagnostic()> emitError);

/// A host tier that attends `options.budget` tokens as `how` chooses them:
/// what a selecting policy's buildHostTier returns.
FailureOr<TierPolicyAttr>
buildBudgetedHostTier(MLIRContext *context, const PlacementOptions &options,
                      const HostSelection &how,
                      function_ref<InFlightDiagnostic()> emitError);

} // namespace mlir::hgc

#endif // HGC_PASSES_POLICIES_PLACEMENTPOLICY_H
