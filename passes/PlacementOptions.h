//===- PlacementOptions.h - the placement vocabulary ------------*- C++ -*-===//
//
// The one set of placement options, names and defaults shared by every entry
// point that compiles: the hgc-place-kv pass, the hgc driver and the JIT.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_PLACEMENTOPTIONS_H
#define HGC_PASSES_PLACEMENTOPTIONS_H

#include "dialect/HgcDialect.h"

#include <string>

namespace mlir::hgc {

struct PlacementOptions {
  /// A registered policy's name (passes/policies/): `full`, `hgca` (exact
  /// top-k on the host) or `quest` (top blocks on the host, scored from
  /// per-block key min/max summaries).
  std::string policy = "full";
  /// Attention-sink tokens on the device tier (hgca, quest).
  int64_t sink = 4;
  /// Most recent tokens on the device tier (hgca, quest).
  int64_t window = 1024;
  /// Host tokens attended per KV head (hgca, quest): "256" is a count, "0.05" a
  /// fraction of the host tokens.
  std::string budget = "0.05";
  /// Tokens per block of `quest`'s selection (a power of two).
  int64_t block = 16;
};

/// "policy=P sink=N window=N budget=B block=N": the options as a cache key
/// spells them.
std::string getPlacementKey(const PlacementOptions &options);

/// Reads a budget as the attribute syntax does: digits only is a token count
/// (`tokens`), anything else a fraction; false when it is neither.
bool parseBudget(StringRef text, int64_t &tokens, double &fraction);

/// parseBudget, its failure reported through `emitError`.
LogicalResult checkBudget(StringRef text, int64_t &tokens, double &fraction,
                          function_ref<InFlightDiagnostic()> emitError);

/// The placement `options` describe, or a failure reported through
/// `emitError` (unknown policy, malformed budget, invalid placement): the
/// device tier dense, and the policy's host tier where it splits.
FailureOr<PlacementAttr>
buildPlacement(MLIRContext *context, const PlacementOptions &options,
               function_ref<InFlightDiagnostic()> emitError);

} // namespace mlir::hgc

#endif // HGC_PASSES_PLACEMENTOPTIONS_H
