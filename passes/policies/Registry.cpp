//===- Registry.cpp - the placement policies this build has --------------===//
//
// PolicyList.inc is written by passes/CMakeLists.txt from the files
// passes/policies/<Name>Policy.cpp: each defines get<Name>Policy(). A new
// policy is a new file; nothing here changes.
//
//===----------------------------------------------------------------------===//

#include "passes/policies/PlacementPolicy.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::hgc;

FailureOr<TierPolicyAttr> PlacementPolicy::buildHostTier(
    MLIRContext *, const PlacementOptions &,
    function_ref<InFlightDiagnostic()> emitError) const {
  return emitError() << "policy '" << getName() << "' has no host tier",
         failure();
}

FailureOr<Tail>
hgc::parseTailOption(const PlacementOptions &options,
                     function_ref<InFlightDiagnostic()> emitError) {
  if (options.tail == "auto")
    return getPlacementPolicy(options).getDefaultTail();
  if (std::optional<Tail> tail = symbolizeTail(options.tail))
    return *tail;
  return emitError() << "tail '" << options.tail
                     << "' is not auto, none or summary",
         failure();
}

FailureOr<TierPolicyAttr> hgc::buildBudgetedHostTier(
    MLIRContext *context, const PlacementOptions &options,
    const HostSelection &how, function_ref<InFlightDiagnostic()> emitError) {
  int64_t tokens;
  double fraction;
  if (failed(checkBudget(options.budget, tokens, fraction, emitError)))
    return failure();
  if (how.block > 0)
    tokens = llvm::divideCeil(tokens, how.block);
  FailureOr<Tail> tail = parseTailOption(options, emitError);
  if (failed(tail))
    return failure();
  TierPolicyAttr host = TierPolicyAttr::getChecked(
      emitError, context, Tier::Host, how.selection, tokens,
      llvm::APFloat(fraction), how.block, how.bits, llvm::APFloat(how.mass),
      how.subspaces, how.centroids, how.channels, /*capacity=*/int64_t{0},
      *tail);
  if (!host)
    return failure();
  return host;
}

ArrayRef<const PlacementPolicy *> hgc::getPlacementPolicies() {
  static const SmallVector<const PlacementPolicy *> policies = [] {
    SmallVector<const PlacementPolicy *> all = {
#define HGC_PLACEMENT_POLICY(Name) &get##Name##Policy(),
#include "passes/policies/PolicyList.inc"
#undef HGC_PLACEMENT_POLICY
    };
    llvm::sort(all, [](const PlacementPolicy *a, const PlacementPolicy *b) {
      return a->getName() < b->getName();
    });
    return all;
  }();
  return policies;
}

const PlacementPolicy *hgc::lookupPlacementPolicy(StringRef name) {
  for (const PlacementPolicy *policy : getPlacementPolicies())
    if (policy->getName() == name)
      return policy;
  return nullptr;
}

std::string hgc::getPlacementPolicyNames() {
  ArrayRef<const PlacementPolicy *> all = getPlacementPolicies();
  std::string names;
  for (auto [i, policy] : llvm::enumerate(all)) {
    if (i)
      names += i + 1 == all.size() ? " or " : ", ";
    names += policy->getName().str();
  }
  return names;
}

const std::string &hgc::getPlacementPolicyHelp() {
  static const std::string help =
      "placement policy: " + getPlacementPolicyNames();
  return help;
}

const PlacementPolicy &
hgc::getPlacementPolicy(const PlacementOptions &options) {
  const PlacementPolicy *policy = lookupPlacementPolicy(options.policy);
  assert(policy && "placement options are checked before use");
  return *policy;
}

KeptWithKV hgc::getKeptByKVRuntime(const PlacementOptions &options,
                                   int64_t pageTokens) {
  const PlacementPolicy &policy = getPlacementPolicy(options);
  KeptWithKV kept;
  kept.keyCodes = policy.readsKeyCodes(options);
  kept.channelKeys = policy.readsChannelKeys();
  kept.valueBlock = kept.channelKeys ? pageTokens : 0;
  kept.tailMoments = false;
  return kept;
}
