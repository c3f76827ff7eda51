//===- PlacementFlags.h - the placement options as tool flags ---*- C++ -*-===//
//
// `--policy --sink --window --budget --block` and `--target --chip` for the
// tools that parse llvm::cl flags (hgc, hgc-runner), declared from
// forEachPlacementOption and TargetOptions: the same names, help and
// defaults as the hgc-hybrid-pipeline and hgc-lowering-pipeline options.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_TOOLS_SUPPORT_PLACEMENTFLAGS_H
#define HGC_TOOLS_SUPPORT_PLACEMENTFLAGS_H

#include "codegen/Pipelines.h"
#include "passes/PlacementOptions.h"

#include "llvm/Support/CommandLine.h"

namespace mlir::hgc {

template <typename T> using Flag = llvm::cl::opt<T>;
using PlacementFlags = PlacementOptionSet<Flag>;

/// The placement flags, each with `modifiers` (its category, subcommands).
template <typename... Modifiers>
PlacementFlags makePlacementFlags(const Modifiers &...modifiers) {
  return PlacementFlags([&](StringRef name, StringRef help, const auto &value) {
    using T = std::decay_t<decltype(value)>;
    return std::make_unique<Flag<T>>(name, llvm::cl::desc(help),
                                     llvm::cl::init(value), modifiers...);
  });
}

/// `--target` and `--chip`.
class TargetFlags {
public:
  template <typename... Modifiers>
  explicit TargetFlags(const Modifiers &...modifiers)
      : target("target", llvm::cl::desc(kTargetHelp),
               llvm::cl::init(TargetOptions{}.target), modifiers...),
        chip("chip", llvm::cl::desc(kChipHelp),
             llvm::cl::init(TargetOptions{}.chip), modifiers...) {}

  /// The options as given (`hybrid` read as `host`), not yet checked.
  TargetOptions get() const {
    TargetOptions options;
    options.target = getCanonicalTargetName(target);
    options.chip = chip;
    return options;
  }

private:
  Flag<std::string> target;
  Flag<std::string> chip;
};

} // namespace mlir::hgc

#endif // HGC_TOOLS_SUPPORT_PLACEMENTFLAGS_H
