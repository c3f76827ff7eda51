//===- PlacementOptions.h - the placement vocabulary ------------*- C++ -*-===//
//
// The one set of placement options, names and defaults shared by every entry
// point that compiles: the hgc-place-kv pass, the hgc driver and the JIT.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_PLACEMENTOPTIONS_H
#define HGC_PASSES_PLACEMENTOPTIONS_H

#include "dialect/HgcDialect.h"

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

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

/// "placement policy: full, hgca or quest" (passes/policies/Registry.cpp).
const std::string &getPlacementPolicyHelp();

/// Each placement option once, with its name and help: `visit(name, help,
/// field)` for policy, sink, window, budget and block. Every entry point
/// declares its flags or pass options from this (PlacementOptionSet), so
/// names, help and defaults cannot drift.
template <typename Visitor>
void forEachPlacementOption(PlacementOptions &options, Visitor &&visit) {
  visit("policy", getPlacementPolicyHelp(), options.policy);
  visit("sink", "attention-sink tokens on the device tier", options.sink);
  visit("window", "most recent tokens on the device tier", options.window);
  visit("budget",
        "host tokens attended per KV head: a count (256) or a fraction (0.05)",
        options.budget);
  visit("block",
        "tokens per selected block, a power of two (policies that select "
        "blocks)",
        options.block);
}

/// The placement options as `Opt<std::string>` and `Opt<int64_t>` objects
/// (llvm::cl flags, pass pipeline options): `make(name, help, default)`
/// returns a std::unique_ptr to a new one for each, `get()` reads them.
template <template <typename> class Opt> class PlacementOptionSet {
public:
  template <typename Make> explicit PlacementOptionSet(Make make) {
    PlacementOptions defaults;
    forEachPlacementOption(
        defaults, [&](StringRef name, StringRef help, const auto &value) {
          add(make(name, help, value));
        });
  }

  void set(const PlacementOptions &given) {
    size_t string = 0, integer = 0;
    PlacementOptions copy = given;
    forEachPlacementOption(copy, [&](StringRef, StringRef, auto &field) {
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::string>)
        *strings[string++] = field;
      else
        *integers[integer++] = field;
    });
  }

  PlacementOptions get() const {
    PlacementOptions options;
    size_t string = 0, integer = 0;
    forEachPlacementOption(options, [&](StringRef, StringRef, auto &field) {
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::string>)
        field = strings[string++]->getValue();
      else
        field = integers[integer++]->getValue();
    });
    return options;
  }

private:
  void add(std::unique_ptr<Opt<std::string>> option) {
    strings.push_back(std::move(option));
  }
  void add(std::unique_ptr<Opt<int64_t>> option) {
    integers.push_back(std::move(option));
  }
  std::vector<std::unique_ptr<Opt<std::string>>> strings;
  std::vector<std::unique_ptr<Opt<int64_t>>> integers;
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
