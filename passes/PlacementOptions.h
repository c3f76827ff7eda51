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
  /// top-k on the host), `hca` (tokens scored from int8 key codes, kept by
  /// softmax mass), `quest` (top blocks on the host, scored from per-block
  /// key min/max summaries) or `sparf` (top tokens on the largest query
  /// channels, the rest folded in as the mean value).
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
  /// Softmax mass `hca` keeps, in (0, 1]: the fewest top-scoring host tokens
  /// whose mass under the approximate scores reaches it, at most the budget.
  double tau = 0.9;
  /// How `hca` codes host keys: `int8` (per-token int8 codes) or
  /// `pq<G>x<C>` (product quantization: G sub-spaces of C centroids each,
  /// e.g. pq16x256).
  std::string codebook = "int8";
  /// Query channels `sparf` scores tokens on (SparQ's r), at most head_dim.
  int64_t channels = 32;
  /// Cold tokens the host tier holds (0: all of them). Past it the oldest
  /// cold tokens stay on the host and the rest go to a storage tier attended
  /// under the same policy, as the KV runtime spills pages down a full host.
  int64_t hostCapacity = 0;
  /// Cold tokens a far-memory tier (`cxl`: CXL-attached memory or another
  /// socket's, a slower host tier) holds after the host's `hostCapacity`,
  /// the rest on storage (0: no far tier). Needs a host capacity.
  int64_t farCapacity = 0;
  /// What a selecting host tier does with the tokens it leaves out: `none`
  /// (dropped), `summary` (estimated from per-block key and value moments,
  /// one more partial in the merge) or `auto` (the policy's default:
  /// summary for fluxion, none for the others).
  std::string tail = "auto";
};

/// "placement policy: full, hca, hgca, quest or sparf"
/// (passes/policies/Registry.cpp).
const std::string &getPlacementPolicyHelp();

/// Each placement option once, with its name and help: `visit(name, help,
/// field)` for policy, sink, window, budget, block, tau, codebook, channels,
/// host-capacity, far-capacity and tail. Every entry point
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
  visit("tau",
        "softmax mass in (0, 1] the host tier keeps, the budget a cap "
        "(policies with a mass keep rule)",
        options.tau);
  visit("codebook",
        "how hca codes host keys: int8 (per token) or pq<G>x<C> (product "
        "quantization, G sub-spaces of C centroids, e.g. pq16x256)",
        options.codebook);
  visit("channels",
        "query channels sparf scores tokens on (SparQ's r), at most head_dim",
        options.channels);
  visit("host-capacity",
        "cold tokens the host tier holds, the rest on a storage tier under "
        "the same policy (0: no limit, no storage tier)",
        options.hostCapacity);
  visit("far-capacity",
        "cold tokens a far-memory tier (cxl: CXL or another NUMA node) holds "
        "after the host's, the rest on storage (0: no far tier; needs "
        "host-capacity)",
        options.farCapacity);
  visit("tail",
        "the host tokens a selection leaves out: none (dropped), summary "
        "(estimated from per-block moments) or auto (the policy's default)",
        options.tail);
}

/// The placement options as `Opt<std::string>`, `Opt<int64_t>` and
/// `Opt<double>` objects
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
    Cursor cursor;
    PlacementOptions copy = given;
    forEachPlacementOption(copy, [&](StringRef, StringRef, auto &field) {
      *next(cursor, field) = field;
    });
  }

  PlacementOptions get() const {
    Cursor cursor;
    PlacementOptions options;
    forEachPlacementOption(options, [&](StringRef, StringRef, auto &field) {
      field = next(cursor, field)->getValue();
    });
    return options;
  }

private:
  template <typename T> using Options = std::vector<std::unique_ptr<Opt<T>>>;
  /// The next option of each type, in forEachPlacementOption's order.
  struct Cursor {
    size_t string = 0, integer = 0, real = 0;
  };
  Opt<std::string> *next(Cursor &c, const std::string &) const {
    return strings[c.string++].get();
  }
  Opt<int64_t> *next(Cursor &c, const int64_t &) const {
    return integers[c.integer++].get();
  }
  Opt<double> *next(Cursor &c, const double &) const {
    return reals[c.real++].get();
  }
  void add(std::unique_ptr<Opt<std::string>> option) {
    strings.push_back(std::move(option));
  }
  void add(std::unique_ptr<Opt<int64_t>> option) {
    integers.push_back(std::move(option));
  }
  void add(std::unique_ptr<Opt<double>> option) {
    reals.push_back(std::move(option));
  }
  Options<std::string> strings;
  Options<int64_t> integers;
  Options<double> reals;
};

/// "policy=P sink=N window=N budget=B block=N tau=F codebook=C channels=N
/// host-capacity=N far-capacity=N tail=T": the options as a cache key spells
/// them.
std::string getPlacementKey(const PlacementOptions &options);

/// Reads a budget as the attribute syntax does: digits only is a token count
/// (`tokens`), anything else a fraction; false when it is neither.
bool parseBudget(StringRef text, int64_t &tokens, double &fraction);

/// parseBudget, its failure reported through `emitError`.
LogicalResult checkBudget(StringRef text, int64_t &tokens, double &fraction,
                          function_ref<InFlightDiagnostic()> emitError);

/// Every option's value, whatever the policy reads: a known policy,
/// non-negative sink, window and capacities (a far capacity only with a host
/// one), a budget that is a count or a fraction in (0, 1], a power-of-two
/// block, tau in (0, 1], a known codebook, positive channels, a known tail; a
/// failure reported through `emitError`.
LogicalResult
checkPlacementOptions(const PlacementOptions &options,
                      function_ref<InFlightDiagnostic()> emitError);

/// The placement `options` describe, or a failure reported through
/// `emitError` (unknown policy, malformed budget, invalid placement): the
/// device tier dense, and the policy's host tier where it splits (with a
/// host capacity, up to it, then with a far capacity that many on a cxl
/// tier, and the same policy on a storage tier after).
FailureOr<PlacementAttr>
buildPlacement(MLIRContext *context, const PlacementOptions &options,
               function_ref<InFlightDiagnostic()> emitError);

} // namespace mlir::hgc

#endif // HGC_PASSES_PLACEMENTOPTIONS_H
