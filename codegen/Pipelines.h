//===- Pipelines.h - named hgc pass pipelines -------------------*- C++ -*-===//
//
// The pipelines every entry point reuses (hgc-opt, the runner, later the
// driver and the JIT), so that one lowering is tested and shipped.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_CODEGEN_PIPELINES_H
#define HGC_CODEGEN_PIPELINES_H

#include "passes/PlacementOptions.h"

#include "mlir/Pass/PassManager.h"

namespace mlir::hgc {

/// raise -> bind -> place: decode attention annotated with its placement
/// (what `hgc plan` reports), not yet split.
void buildPlacementPipeline(OpPassManager &pm, const PlacementOptions &options);

/// raise -> bind -> place -> split -> transfers: decomposed attention to
/// hgc.attention, single-query attention to decode attention on a cache, then
/// per-tier partials, an LSE merge, and the asynchronous moves between tiers.
void buildHybridPipeline(OpPassManager &pm, const PlacementOptions &options);

/// split-level hgc on tensors -> loops -> buffers -> LLVM dialect, runnable on
/// the host (the device tier falls back to the same loops).
void buildHostLoweringPipeline(OpPassManager &pm);

/// Registers `hgc-hybrid-pipeline` and `hgc-host-pipeline` with the same
/// option names as the hgc-place-kv pass.
void registerHgcPipelines();

} // namespace mlir::hgc

#endif // HGC_CODEGEN_PIPELINES_H
