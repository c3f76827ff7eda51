// RUN: hgc-opt %s -split-input-file -hgc-lower-stablehlo | FileCheck %s

// dot_general: one generic over (batch, lhs free, rhs free, contracting);
// bf16 accumulates in f32 and rounds once.
// CHECK-DAG: #[[LHS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[RHS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @dot_bf16
// CHECK: %[[INIT:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2x3x5xf32>)
// CHECK: linalg.generic {indexing_maps = [#[[LHS]], #[[RHS]], #[[OUT]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME: outs(%[[INIT]] : tensor<2x3x5xf32>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @dot_bf16(%a: tensor<2x3x4xbf16>, %b: tensor<2x5x4xbf16>) -> tensor<2x3x5xbf16> {
  %0 = stablehlo.dot_general %a, %b, batching_dims = [0] x [0], contracting_dims = [2] x [2] : (tensor<2x3x4xbf16>, tensor<2x5x4xbf16>) -> tensor<2x3x5xbf16>
  return %0 : tensor<2x3x5xbf16>
}

// -----

// reduce: linalg.reduce from the init value, the reducer on scalars
// (accumulator first in StableHLO, second in linalg).
// CHECK-LABEL: func.func @reduce_max
// CHECK: %[[INIT:.*]] = tensor.extract %arg1[] : tensor<f32>
// CHECK: %[[FILLED:.*]] = linalg.fill ins(%[[INIT]] : f32)
// CHECK: linalg.reduce { arith.maximumf } ins(%arg0 : tensor<4x6xf32>) outs(%[[FILLED]] : tensor<4xf32>) dimensions = [1]
func.func @reduce_max(%x: tensor<4x6xf32>, %init: tensor<f32>) -> tensor<4xf32> {
  %0 = stablehlo.reduce(%x init: %init) applies stablehlo.maximum across dimensions = [1] : (tensor<4x6xf32>, tensor<f32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// broadcast_in_dim reads size-1 operand dims at 0; iota indexes; compare and
// select are scalar arith; convert of i1 is unsigned.
// CHECK: affine_map<(d0, d1, d2) -> (d0, 0)>
// CHECK-LABEL: func.func @masks
// CHECK: linalg.generic
// CHECK: linalg.index 1 : index
// CHECK: arith.cmpi sge
// CHECK: arith.select
// CHECK: arith.uitofp %{{.*}} : i1 to f32
func.func @masks(%a: tensor<2x1xf32>, %b: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>) {
  %0 = stablehlo.broadcast_in_dim %a, dims = [0, 1] : (tensor<2x1xf32>) -> tensor<2x3x4xf32>
  %i = stablehlo.iota dim = 1 : tensor<2x3x4xi32>
  %j = stablehlo.iota dim = 2 : tensor<2x3x4xi32>
  %c = stablehlo.compare GE, %i, %j, SIGNED : (tensor<2x3x4xi32>, tensor<2x3x4xi32>) -> tensor<2x3x4xi1>
  %s = stablehlo.select %c, %0, %b : tensor<2x3x4xi1>, tensor<2x3x4xf32>
  %f = stablehlo.convert %c : (tensor<2x3x4xi1>) -> tensor<2x3x4xf32>
  return %0, %s, %f : tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>
}

// -----

// A composite is its decomposition; transpose and reshape are linalg and
// tensor ops.
// CHECK-LABEL: func.func @structure
// CHECK: linalg.transpose ins(%arg0 : tensor<2x3xf32>) outs(%{{.*}} : tensor<3x2xf32>) permutation = [1, 0]
// CHECK: tensor.reshape %{{.*}}(%{{.*}}) : (tensor<3x2xf32>, tensor<1xi64>) -> tensor<6xf32>
// CHECK: call @twice(%{{.*}}) : (tensor<6xf32>) -> tensor<6xf32>
func.func @structure(%a: tensor<2x3xf32>) -> tensor<6xf32> {
  %t = stablehlo.transpose %a, dims = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %r = stablehlo.reshape %t : (tensor<3x2xf32>) -> tensor<6xf32>
  %c = stablehlo.composite "my.twice" %r {decomposition = @twice} : (tensor<6xf32>) -> tensor<6xf32>
  return %c : tensor<6xf32>
}
func.func private @twice(%x: tensor<6xf32>) -> tensor<6xf32> {
  %0 = stablehlo.add %x, %x : tensor<6xf32>
  return %0 : tensor<6xf32>
}
