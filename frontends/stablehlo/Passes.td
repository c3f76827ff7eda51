//===- Passes.td - StableHLO passes ------------------------*- tablegen -*-===//

#ifndef HGC_FRONTENDS_STABLEHLO_PASSES_TD
#define HGC_FRONTENDS_STABLEHLO_PASSES_TD

include "mlir/Pass/PassBase.td"

def RaiseStablehloAttentionPass
    : Pass<"hgc-raise-stablehlo-attention", "ModuleOp"> {
  let summary = "Raise attention written in StableHLO to hgc.attention";
  let description = [{
    Matches `dot_general(Q, K)`, splat scalings, at most one mask
    (`select(mask, S, -big)` or `S + bias`), transposes and converts, a
    softmax over the key axis (`exp(S - max S) / sum exp(S - max S)`, the
    max possibly clamped by -inf), an optional convert, and
    `dot_general(P, V)`; the axes are named by their roles in the two
    contractions, so JAX's BTNH layout, GQA's group axis and XLA's
    transposes all match. The match becomes Q, K, V (and the mask, as an
    additive bias in Q's type) rearranged to `[batch, heads, positions,
    dim]`, one `hgc.attention` with the scale, and its output rearranged
    into the P x V result's layout. Anything else is left to
    `hgc-lower-stablehlo`.
  }];
  let dependentDialects = ["::mlir::hgc::HgcDialect"];
}

def LowerStablehloPass : Pass<"hgc-lower-stablehlo", "ModuleOp"> {
  let summary = "Lower the imported StableHLO subset to linalg, tensor and arith";
  let description = [{
    Rewrites every `stablehlo` op of the subset hgc imports into upstream ops
    on tensors, following the StableHLO specification: elementwise ops,
    `compare`, `select`, `convert`, `reduce_precision` and `iota` become
    `linalg.generic` with scalar `arith`/`math` bodies; `constant` an
    `arith.constant`; `broadcast_in_dim` a `linalg.generic` that reads size-1
    operand dimensions at 0; `transpose` a `linalg.transpose`; `reshape` a
    `tensor.reshape`; `dot_general` one `linalg.generic` over (batch, lhs
    free, rhs free, contracting) loops that accumulates in f32 for narrower
    float results (as XLA does) and rounds once; `reduce` a `linalg.reduce`
    whose body is the reducer on scalars (several inputs at once: argmax);
    `concatenate`, `slice`,
    `dynamic_slice`, `dynamic_update_slice` and `pad` tensor slices (start
    indices clamped as the spec says); `gather` a `linalg.generic` of
    `tensor.extract`s; `scatter` a loop nest over the updates; `while`,
    `case` and `if` the `scf` ops `while`, `index_switch` and `if` holding
    the same regions; `optimization_barrier` its operands; `composite` a
    call of its decomposition. `func.call` of private helpers stays.
    Unsupported input (`custom_call` targets, reducers with non-elementwise
    ops, unsigned or complex element types) is a located error.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // HGC_FRONTENDS_STABLEHLO_PASSES_TD
