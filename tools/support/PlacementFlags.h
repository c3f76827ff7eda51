//===- PlacementFlags.h - the placement options as tool flags ---*- C++ -*-===//
//
// `--policy --sink --window --budget --block` for the tools that parse
// llvm::cl flags (hgc, hgc-runner), declared from forEachPlacementOption:
// the same names, help and defaults as the hgc-hybrid-pipeline options.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_TOOLS_SUPPORT_PLACEMENTFLAGS_H
#define HGC_TOOLS_SUPPORT_PLACEMENTFLAGS_H

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

} // namespace mlir::hgc

#endif // HGC_TOOLS_SUPPORT_PLACEMENTFLAGS_H
