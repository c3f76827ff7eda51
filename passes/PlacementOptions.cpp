//===- PlacementOptions.cpp - policies to #hgc.placement -----------------===//

#include "passes/PlacementOptions.h"
#include "passes/policies/PlacementPolicy.h"

#include "mlir/IR/Diagnostics.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::hgc;

bool hgc::parseBudget(StringRef text, int64_t &tokens, double &fraction) {
  tokens = 0;
  fraction = 0.0;
  text = text.trim();
  bool isCount = !text.empty() &&
                 llvm::all_of(text, [](char c) { return llvm::isDigit(c); });
  return !(isCount ? text.getAsInteger(10, tokens)
                   : text.getAsDouble(fraction));
}

LogicalResult hgc::checkBudget(StringRef text, int64_t &tokens,
                               double &fraction,
                               function_ref<InFlightDiagnostic()> emitError) {
  if (!parseBudget(text, tokens, fraction))
    return emitError() << "budget '" << text.trim()
                       << "' is neither a token count (256) nor a fraction "
                          "(0.05)";
  return success();
}

FailureOr<PlacementAttr>
hgc::buildPlacement(MLIRContext *context, const PlacementOptions &options,
                    function_ref<InFlightDiagnostic()> emitError) {
  const PlacementPolicy *policy = lookupPlacementPolicy(options.policy);
  if (!policy) {
    emitError() << "unknown placement policy '" << options.policy
                << "', expected " << getPlacementPolicyNames();
    return failure();
  }
  TierPolicyAttr device = TierPolicyAttr::getDense(context, Tier::Device);
  if (!policy->splits())
    return PlacementAttr::get(context, 0, 0, {device}, {});
  FailureOr<TierPolicyAttr> host =
      policy->buildHostTier(context, options, emitError);
  if (failed(host))
    return failure();
  if (options.hostCapacity < 0)
    return emitError() << "host-capacity must be >= 0, got "
                       << options.hostCapacity,
           failure();
  if (options.farCapacity < 0)
    return emitError() << "far-capacity must be >= 0, got "
                       << options.farCapacity,
           failure();
  if (options.farCapacity > 0 && options.hostCapacity == 0)
    return emitError() << "far-capacity needs a host-capacity: the far tier "
                          "holds the cold tokens past the host's",
           failure();
  SmallVector<TierPolicyAttr> tiers = {device, *host};
  if (options.hostCapacity > 0) {
    tiers = {device, host->withTier(Tier::Host, options.hostCapacity)};
    if (options.farCapacity > 0)
      tiers.push_back(host->withTier(Tier::Cxl, options.farCapacity));
    tiers.push_back(host->withTier(Tier::Storage, 0));
  }
  PlacementAttr placement = PlacementAttr::getChecked(
      emitError, context, options.sink, options.window,
      ArrayRef<TierPolicyAttr>(tiers), ArrayRef<HeadPlacementAttr>{});
  if (!placement)
    return failure();
  return placement;
}

std::string hgc::getPlacementKey(const PlacementOptions &options) {
  return "policy=" + options.policy + " sink=" + std::to_string(options.sink) +
         " window=" + std::to_string(options.window) +
         " budget=" + options.budget +
         " block=" + std::to_string(options.block) +
         " tau=" + llvm::formatv("{0}", options.tau).str() +
         " codebook=" + options.codebook +
         " channels=" + std::to_string(options.channels) +
         " host-capacity=" + std::to_string(options.hostCapacity) +
         " far-capacity=" + std::to_string(options.farCapacity) +
         " tail=" + options.tail;
}
