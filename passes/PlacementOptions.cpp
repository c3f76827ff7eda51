//===- PlacementOptions.cpp - policies to #hgc.placement -----------------===//

#include "passes/PlacementOptions.h"
#include "passes/policies/PlacementPolicy.h"

#include "mlir/IR/Diagnostics.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

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

LogicalResult
hgc::checkPlacementOptions(const PlacementOptions &options,
                           function_ref<InFlightDiagnostic()> emitError) {
  if (!lookupPlacementPolicy(options.policy))
    return emitError() << "unknown placement policy '" << options.policy
                       << "', expected " << getPlacementPolicyNames();
  if (options.sink < 0)
    return emitError() << "placement sink must be >= 0, got " << options.sink;
  if (options.window < 0)
    return emitError() << "placement window must be >= 0, got "
                       << options.window;
  int64_t tokens = 0;
  double fraction = 0;
  if (failed(checkBudget(options.budget, tokens, fraction, emitError)))
    return failure();
  // 0 is "none", what a policy that selects nothing is given; a policy
  // that selects rejects it when it builds its tier.
  if (fraction != 0.0 && !(fraction > 0.0 && fraction <= 1.0))
    return emitError() << "budget must be a token count or a fraction in "
                          "(0, 1], got '"
                       << options.budget << "'";
  if (options.block <= 0 || !llvm::isPowerOf2_64(options.block))
    return emitError() << "block must be a positive power of two, got "
                       << options.block;
  if (!std::isfinite(options.tau) || options.tau <= 0.0 || options.tau > 1.0)
    return emitError() << "tau must be in (0, 1], got " << options.tau;
  if (failed(parseCodebook(options.codebook, options.tau, emitError)))
    return failure();
  if (options.channels <= 0)
    return emitError() << "channels must be positive, got " << options.channels;
  if (options.hostCapacity < 0)
    return emitError() << "host-capacity must be >= 0, got "
                       << options.hostCapacity;
  if (options.farCapacity < 0)
    return emitError() << "far-capacity must be >= 0, got "
                       << options.farCapacity;
  if (options.farCapacity > 0 && options.hostCapacity == 0)
    return emitError() << "far-capacity needs a host-capacity: the far tier "
                          "holds the cold tokens past the host's";
  return parseTailOption(options, emitError);
}

FailureOr<PlacementAttr>
hgc::buildPlacement(MLIRContext *context, const PlacementOptions &options,
                    function_ref<InFlightDiagnostic()> emitError) {
  // Every value is checked whatever the policy: one it does not read is
  // still a typo the user should hear about.
  if (failed(checkPlacementOptions(options, emitError)))
    return failure();
  const PlacementPolicy &policy = getPlacementPolicy(options);
  TierPolicyAttr device = TierPolicyAttr::getDense(context, Tier::Device);
  if (!policy.splits())
    return PlacementAttr::get(context, 0, 0, {device}, {});
  FailureOr<TierPolicyAttr> host =
      policy.buildHostTier(context, options, emitError);
  if (failed(host))
    return failure();
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
