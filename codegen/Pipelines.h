//===- Pipelines.h - named hgc pass pipelines -------------------*- C++ -*-===//
//
// The pipelines every entry point reuses (hgc-opt, hgc-runner, the hgc
// driver, the JIT and the bench), so that one lowering is tested and
// shipped.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_CODEGEN_PIPELINES_H
#define HGC_CODEGEN_PIPELINES_H

#include "passes/PlacementOptions.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::hgc {

/// raise -> bind -> place: decode attention annotated with its placement
/// (what `hgc plan` reports), not yet split.
void buildPlacementPipeline(OpPassManager &pm, const PlacementOptions &options);

/// raise -> bind -> place -> split -> transfers: decomposed attention to
/// hgc.attention, single-query attention to decode attention on a cache, then
/// per-tier partials, an LSE merge, and the asynchronous moves between tiers.
void buildHybridPipeline(OpPassManager &pm, const PlacementOptions &options);

/// Where the device tier runs, shared by every entry point that lowers:
/// `target` host (the device tier runs the host tier's loops) or nvptx (GPU
/// kernels, PTX for `chip`, launched through the runtime's mgpu* entry
/// points, which emulate the GPU on the host where there is none).
struct TargetOptions {
  std::string target = "host";
  std::string chip = "sm_80";
  /// Selections count the tokens they keep for the runtime's statistics
  /// (convert-hgc-to-loops{count-selected}): programs that link libhgc.
  bool countSelected = false;
};

/// Help of the `target` and `chip` options, the same in every entry point
/// (hgc, hgc-runner, hgc-lowering-pipeline; the JIT's target enum).
inline constexpr llvm::StringLiteral kTargetHelp =
    "where the device tier runs: host (the host tier's loops) or nvptx (GPU "
    "kernels, emulated on the host where there is no GPU); whether there is "
    "a device and a host tier is the placement policy's choice";
inline constexpr llvm::StringLiteral kChipHelp =
    "GPU chip of target nvptx: sm_80, sm_86, sm_89, sm_90";

/// A target name as written by a user: `hybrid`, the name of `host` before
/// the split became the policy's alone, reads as `host`.
std::string getCanonicalTargetName(llvm::StringRef name);

/// "" when `options` name a known target and chip, else why not (one line).
std::string checkTargetOptions(const TargetOptions &options);

/// split-level hgc on tensors -> loops (and, for nvptx, kernels with their
/// host twins and PTX) -> buffers -> LLVM dialect.
void buildLoweringPipeline(OpPassManager &pm, const TargetOptions &options);

/// buildLoweringPipeline for target host: runnable on the host (the device
/// tier falls back to the same loops).
void buildHostLoweringPipeline(OpPassManager &pm);

/// The PTX of every gpu.binary object in `module` (after the nvptx
/// lowering), concatenated; "" when there is none.
std::string collectPtx(ModuleOp module);

/// Registers `hgc-hybrid-pipeline` (the hgc-place-kv option names),
/// `hgc-host-pipeline` and `hgc-lowering-pipeline` (target, chip).
void registerHgcPipelines();

} // namespace mlir::hgc

#endif // HGC_CODEGEN_PIPELINES_H
