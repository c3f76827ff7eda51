//===- Passes.h - StableHLO passes ------------------------------*- C++ -*-===//
//
// Raising attention written in StableHLO and lowering the rest
// (frontends/stablehlo/Passes.td).
//
//===----------------------------------------------------------------------===//

#ifndef HGC_FRONTENDS_STABLEHLO_PASSES_H
#define HGC_FRONTENDS_STABLEHLO_PASSES_H

#include "dialect/HgcDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir::hgc {

#define GEN_PASS_DECL
#include "frontends/stablehlo/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "frontends/stablehlo/Passes.h.inc"

} // namespace mlir::hgc

#endif // HGC_FRONTENDS_STABLEHLO_PASSES_H
