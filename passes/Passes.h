//===- Passes.h - hgc passes ------------------------------------*- C++ -*-===//

#ifndef HGC_PASSES_PASSES_H
#define HGC_PASSES_PASSES_H

#include "dialect/HgcDialect.h"
#include "passes/PlacementOptions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::hgc {

/// Marks the dense `hgc.attention` that hgc-bind-kv-cache keeps for a run
/// that turns out not to be a one-token step over padding (a mask that is
/// not padding, or a query of run-time length that is not 1); the decode
/// path takes the rest.
constexpr llvm::StringLiteral kDenseFallbackAttr = "hgc.dense_fallback";

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace mlir::hgc

#endif // HGC_PASSES_PASSES_H
