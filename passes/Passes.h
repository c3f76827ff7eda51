//===- Passes.h - the placement passes --------------------------*- C++ -*-===//
//
// Raise, bind, place, split and insert transfers (passes/Passes.td). The
// lowering passes are declared by codegen/Passes.h, the StableHLO ones by
// frontends/stablehlo/Passes.h: each library declares the passes it holds.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_PASSES_H
#define HGC_PASSES_PASSES_H

#include "dialect/HgcDialect.h"
#include "passes/PlacementOptions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir::hgc {

/// Marks the dense `hgc.attention` that hgc-bind-kv-cache keeps for a run
/// that turns out not to be a one-token step over padding (a mask that is
/// not padding, or a query of run-time length that is not 1); the decode
/// path takes the rest.
constexpr llvm::StringLiteral kDenseFallbackAttr = "hgc.dense_fallback";

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

/// hgc-place-kv with `options` (its pass options are the placement options,
/// declared from forEachPlacementOption).
std::unique_ptr<Pass> createPlaceKVPass(const PlacementOptions &options);

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace mlir::hgc

#endif // HGC_PASSES_PASSES_H
