//===- PlacementOptions.cpp - policies to #hgc.placement -----------------===//

#include "passes/PlacementOptions.h"

#include "mlir/IR/Diagnostics.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MathExtras.h"

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

namespace {
LogicalResult checkBudget(StringRef text, int64_t &tokens, double &fraction,
                          function_ref<InFlightDiagnostic()> emitError) {
  if (!hgc::parseBudget(text, tokens, fraction))
    return emitError() << "budget '" << text.trim()
                       << "' is neither a token count (256) nor a fraction "
                          "(0.05)";
  return success();
}
} // namespace

FailureOr<PlacementAttr>
hgc::buildPlacement(MLIRContext *context, const PlacementOptions &options,
                    function_ref<InFlightDiagnostic()> emitError) {
  auto dense = [&](Tier tier) {
    return TierPolicyAttr::get(context, tier, Selection::Dense, int64_t{0},
                               llvm::APFloat(0.0), int64_t{0}, int64_t{0});
  };
  if (options.policy == "full")
    return PlacementAttr::get(context, 0, 0, {dense(Tier::Device)}, {});
  bool byBlock = options.policy == "quest";
  if (options.policy != "hgca" && !byBlock) {
    emitError() << "unknown placement policy '" << options.policy
                << "', expected full, hgca or quest";
    return failure();
  }
  int64_t tokens;
  double fraction;
  if (failed(checkBudget(options.budget, tokens, fraction, emitError)))
    return failure();
  if (byBlock && (options.block <= 0 || !llvm::isPowerOf2_64(options.block))) {
    emitError() << "block must be a positive power of two, got "
                << options.block;
    return failure();
  }
  // The budget always counts tokens; block_topk's counts blocks.
  if (byBlock)
    tokens = llvm::divideCeil(tokens, options.block);
  TierPolicyAttr host = TierPolicyAttr::getChecked(
      emitError, context, Tier::Host,
      byBlock ? Selection::BlockTopK : Selection::ExactTopK, tokens,
      llvm::APFloat(fraction), byBlock ? options.block : int64_t{0},
      int64_t{0});
  if (!host)
    return failure();
  PlacementAttr placement = PlacementAttr::getChecked(
      emitError, context, options.sink, options.window,
      {dense(Tier::Device), host}, ArrayRef<HeadPlacementAttr>{});
  if (!placement)
    return failure();
  return placement;
}

std::string hgc::getPlacementKey(const PlacementOptions &options) {
  return "policy=" + options.policy + " sink=" + std::to_string(options.sink) +
         " window=" + std::to_string(options.window) +
         " budget=" + options.budget +
         " block=" + std::to_string(options.block);
}
