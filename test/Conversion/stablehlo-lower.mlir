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
// tensor ops (a reshape that merges dims in order a collapse).
// CHECK-LABEL: func.func @structure
// CHECK: linalg.transpose ins(%arg0 : tensor<2x3xf32>) outs(%{{.*}} : tensor<3x2xf32>) permutation = [1, 0]
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<3x2xf32> into tensor<6xf32>
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

// -----

// Data movement as tensor slices: concatenate as inserts at running
// offsets, slice with strides, dynamic start indices clamped into
// [0, size - extent] as the spec says, pad as a fill and a strided insert
// of what lands inside (negative padding crops).
// CHECK-LABEL: func.func @slices
// CHECK: %[[E:.*]] = tensor.empty() : tensor<2x8xf32>
// CHECK: %[[C0:.*]] = tensor.insert_slice %arg0 into %[[E]][0, 0] [2, 4] [1, 1]
// CHECK: %[[CAT:.*]] = tensor.insert_slice %arg0 into %[[C0]][0, 4] [2, 4] [1, 1]
// CHECK: tensor.extract_slice %[[CAT]][0, 1] [2, 3] [1, 2]
// CHECK: %[[I:.*]] = tensor.extract %arg1[] : tensor<i32>
// CHECK: %[[I64:.*]] = arith.extsi %[[I]] : i32 to i64
// CHECK: %[[HIGH:.*]] = arith.constant 1 : i64
// CHECK: arith.minsi %[[I64]], %[[HIGH]]
// CHECK: arith.maxsi
// CHECK: arith.index_cast
// CHECK: tensor.insert_slice %{{.*}} into %arg0[%{{.*}}, %{{.*}}] [1, 4] [1, 1]
// CHECK: tensor.extract_slice %{{.*}}[%{{.*}}, %{{.*}}] [1, 4] [1, 1]
// CHECK: linalg.fill
// CHECK: tensor.extract_slice %{{.*}}[0, 0] [1, 3] [1, 1] : tensor<1x4xf32> to tensor<1x3xf32>
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[1, 0] [1, 3] [1, 2] : tensor<1x3xf32> into tensor<2x6xf32>
func.func @slices(%a: tensor<2x4xf32>, %i: tensor<i32>) -> (tensor<2x3xf32>, tensor<2x6xf32>) {
  %0 = stablehlo.concatenate %a, %a, dim = 1 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x8xf32>
  %1 = stablehlo.slice %0 [0:2, 1:7:2] : (tensor<2x8xf32>) -> tensor<2x3xf32>
  %2 = stablehlo.slice %a [0:1, 0:4] : (tensor<2x4xf32>) -> tensor<1x4xf32>
  %3 = stablehlo.dynamic_update_slice %a, %2, %i, %i : (tensor<2x4xf32>, tensor<1x4xf32>, tensor<i32>, tensor<i32>) -> tensor<2x4xf32>
  %4 = stablehlo.dynamic_slice %3, %i, %i, sizes = [1, 4] : (tensor<2x4xf32>, tensor<i32>, tensor<i32>) -> tensor<1x4xf32>
  %z = stablehlo.constant dense<0.0> : tensor<f32>
  %5 = stablehlo.pad %4, %z, low = [1, 0], high = [0, -1], interior = [0, 1] : (tensor<1x4xf32>, tensor<f32>) -> tensor<2x6xf32>
  return %1, %5 : tensor<2x3xf32>, tensor<2x6xf32>
}

// -----

// sign keeps zeros and NaN (unordered-equal to 0), else copysign(1, x);
// shifts by the bit width or more give 0 (left, logical) instead of
// arith's poison.
// CHECK-LABEL: func.func @sign_and_shift
// CHECK: arith.cmpf ueq
// CHECK: math.copysign
// CHECK: arith.select
// CHECK: arith.constant 32 : i32
// CHECK: arith.cmpi uge
// CHECK: arith.shli
// CHECK: arith.select
func.func @sign_and_shift(%x: tensor<4xf32>, %n: tensor<4xi32>) -> (tensor<4xf32>, tensor<4xi32>) {
  %0 = stablehlo.sign %x : tensor<4xf32>
  %1 = stablehlo.shift_left %n, %n : tensor<4xi32>
  return %0, %1 : tensor<4xf32>, tensor<4xi32>
}

// -----

// gather: one generic over the result; each element's start index read
// from the indices, clamped into [0, size - slice], plus its offset.
// CHECK-LABEL: func.func @gather_rows
// CHECK: linalg.generic
// CHECK: %[[B:.*]] = linalg.index 0 : index
// CHECK: %[[O:.*]] = linalg.index 1 : index
// CHECK: %[[RAW:.*]] = tensor.extract %arg1[%[[B]], %{{.*}}] : tensor<7x1xi32>
// CHECK: %[[START:.*]] = arith.index_cast %[[RAW]] : i32 to index
// CHECK: arith.minsi %[[START]], %{{.*}}
// CHECK: %[[ROW:.*]] = arith.maxsi
// CHECK: tensor.extract %arg0[%[[ROW]], %{{.*}}] : tensor<50x16xf32>
func.func @gather_rows(%t: tensor<50x16xf32>, %i: tensor<7x1xi32>) -> tensor<7x16xf32> {
  %0 = "stablehlo.gather"(%t, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 16>}> : (tensor<50x16xf32>, tensor<7x1xi32>) -> tensor<7x16xf32>
  return %0 : tensor<7x16xf32>
}

// -----

// scatter: a loop nest over the updates threading the result; each update
// lands at its scatter index plus window offset when its window fits, and
// the combiner (here add) runs on the old and new element.
// CHECK-LABEL: func.func @scatter_add
// CHECK: %[[R:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[A:.*]] = %arg0) -> (tensor<12x4xf32>)
// CHECK: scf.for %[[J:.*]] = %{{.*}} iter_args(%[[B:.*]] = %[[A]])
// CHECK: tensor.extract %arg1[%[[I]], %{{.*}}] : tensor<6x1xi32>
// CHECK: arith.cmpi sge
// CHECK: arith.cmpi sle
// CHECK: scf.if
// CHECK: %[[U:.*]] = tensor.extract %arg2[%[[I]], %[[J]]]
// CHECK: %[[OLD:.*]] = tensor.extract %[[B]]
// CHECK: %[[SUM:.*]] = arith.addf %[[OLD]], %[[U]]
// CHECK: tensor.insert %[[SUM]] into %[[B]]
// CHECK: return %[[R]]
func.func @scatter_add(%x: tensor<12x4xf32>, %i: tensor<6x1xi32>, %u: tensor<6x4xf32>) -> tensor<12x4xf32> {
  %0 = "stablehlo.scatter"(%x, %i, %u) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<12x4xf32>, tensor<6x1xi32>, tensor<6x4xf32>) -> tensor<12x4xf32>
  return %0 : tensor<12x4xf32>
}

// -----

// while: scf.while with the same regions; cond's predicate is extracted and
// forwards the iteration values; the body's ops are lowered in place.
// CHECK-LABEL: func.func @while_loop
// CHECK: %[[R:.*]]:2 = scf.while (%[[I:.*]] = %{{.*}}, %[[X:.*]] = %arg0) : (tensor<i32>, tensor<4xf32>) -> (tensor<i32>, tensor<4xf32>)
// CHECK: linalg.generic
// CHECK: arith.cmpi slt
// CHECK: %[[P:.*]] = tensor.extract %{{.*}}[] : tensor<i1>
// CHECK: scf.condition(%[[P]]) %[[I]], %[[X]] : tensor<i32>, tensor<4xf32>
// CHECK: } do {
// CHECK: ^bb0(%[[I2:.*]]: tensor<i32>, %[[X2:.*]]: tensor<4xf32>):
// CHECK: arith.mulf
// CHECK: scf.yield %{{.*}}, %{{.*}} : tensor<i32>, tensor<4xf32>
// CHECK: return %[[R]]#1
// CHECK-NOT: stablehlo.
func.func @while_loop(%a: tensor<4xf32>) -> tensor<4xf32> {
  %zero = stablehlo.constant dense<0> : tensor<i32>
  %0:2 = stablehlo.while(%iterArg = %zero, %iterArg_0 = %a) : tensor<i32>, tensor<4xf32>
   cond {
    %c = stablehlo.constant dense<3> : tensor<i32>
    %lt = stablehlo.compare LT, %iterArg, %c, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  } do {
    %one = stablehlo.constant dense<1> : tensor<i32>
    %next = stablehlo.add %iterArg, %one : tensor<i32>
    %sq = stablehlo.multiply %iterArg_0, %iterArg_0 : tensor<4xf32>
    stablehlo.return %next, %sq : tensor<i32>, tensor<4xf32>
  }
  return %0#1 : tensor<4xf32>
}

// -----

// case: scf.index_switch on the index; the last branch is the default, so
// any index outside [0, branches) runs it as the spec says.
// CHECK-LABEL: func.func @case_branches
// CHECK: %[[K:.*]] = tensor.extract %arg0[] : tensor<i32>
// CHECK: %[[IDX:.*]] = arith.index_cast %[[K]] : i32 to index
// CHECK: scf.index_switch %[[IDX]] -> tensor<4xf32>
// CHECK: case 0 {
// CHECK: scf.yield %arg1 : tensor<4xf32>
// CHECK: case 1 {
// CHECK: arith.negf
// CHECK: default {
// CHECK: math.sin
// CHECK-NOT: stablehlo.
func.func @case_branches(%k: tensor<i32>, %a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "stablehlo.case"(%k) ({
    stablehlo.return %a : tensor<4xf32>
  }, {
    %n = stablehlo.negate %a : tensor<4xf32>
    stablehlo.return %n : tensor<4xf32>
  }, {
    %s = stablehlo.sine %a : tensor<4xf32>
    stablehlo.return %s : tensor<4xf32>
  }) : (tensor<i32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// if: scf.if on the extracted predicate; optimization_barrier is its
// operands.
// CHECK-LABEL: func.func @if_barrier
// CHECK: %[[P:.*]] = tensor.extract %arg0[] : tensor<i1>
// CHECK: %[[R:.*]] = scf.if %[[P]] -> (tensor<4xf32>) {
// CHECK: scf.yield %arg1
// CHECK: } else {
// CHECK: math.cos
// CHECK: return %[[R]], %arg0
func.func @if_barrier(%p: tensor<i1>, %a: tensor<4xf32>) -> (tensor<4xf32>, tensor<i1>) {
  %0 = "stablehlo.if"(%p) ({
    stablehlo.return %a : tensor<4xf32>
  }, {
    %c = stablehlo.cosine %a : tensor<4xf32>
    stablehlo.return %c : tensor<4xf32>
  }) : (tensor<i1>) -> tensor<4xf32>
  %1:2 = stablehlo.optimization_barrier %0, %p : tensor<4xf32>, tensor<i1>
  return %1#0, %1#1 : tensor<4xf32>, tensor<i1>
}

// -----

// reduce_precision to e5m10 on f32 bits: round the 13 dropped mantissa bits
// to nearest even, then exponents past e5's range ((127 +- 15) << 23) to
// inf or zero; NaN kept.
// CHECK-LABEL: func.func @reduce_precision
// CHECK: linalg.generic
// CHECK: %[[BITS:.*]] = arith.bitcast %{{.*}} : f32 to i32
// CHECK: arith.andi %[[BITS]], %c8192_i32
// CHECK: arith.shrui %{{.*}}, %c13_i32
// CHECK: arith.andi %{{.*}}, %c-8192_i32
// CHECK: arith.cmpi ugt, %{{.*}}, %c1191182336_i32
// CHECK: arith.cmpi ule, %{{.*}}, %c939524096_i32
// CHECK: arith.bitcast %{{.*}} : i32 to f32
// CHECK: arith.cmpf uno
// CHECK: arith.select
func.func @reduce_precision(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = stablehlo.reduce_precision %a, format = e5m10 : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// A reduce of two inputs (JAX's argmax: values and their indices) is one
// linalg.reduce; the reducer's accumulators come second in linalg's body.
// CHECK-LABEL: func.func @argmax
// CHECK: %[[V:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<3xf32>)
// CHECK: %[[I:.*]] = linalg.fill ins(%{{.*}} : i32) outs(%{{.*}} : tensor<3xi32>)
// CHECK: %[[R:.*]]:2 = linalg.reduce ins(%arg0, %{{.*}} : tensor<3x5xf32>, tensor<3x5xi32>) outs(%[[V]], %[[I]] : tensor<3xf32>, tensor<3xi32>) dimensions = [1]
// CHECK-NEXT: (%[[X:.*]]: f32, %[[XI:.*]]: i32, %[[ACC:.*]]: f32, %[[ACCI:.*]]: i32) {
// CHECK: %[[GT:.*]] = arith.cmpf ogt, %[[ACC]], %[[X]] : f32
// CHECK: arith.select %[[GT]], %[[ACC]], %[[X]] : f32
// CHECK: arith.select %[[GT]], %[[ACCI]], %[[XI]] : i32
// CHECK: linalg.yield
// CHECK: return %[[R]]#1
func.func @argmax(%x: tensor<3x5xf32>) -> tensor<3xi32> {
  %iota = stablehlo.iota dim = 1 : tensor<3x5xi32>
  %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>
  %zero = stablehlo.constant dense<0> : tensor<i32>
  %0:2 = stablehlo.reduce(%x init: %ninf), (%iota init: %zero) across dimensions = [1] : (tensor<3x5xf32>, tensor<3x5xi32>, tensor<f32>, tensor<i32>) -> (tensor<3xf32>, tensor<3xi32>)
   reducer(%a: tensor<f32>, %b: tensor<f32>) (%ai: tensor<i32>, %bi: tensor<i32>) {
    %gt = stablehlo.compare GT, %a, %b, FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %v = stablehlo.select %gt, %a, %b : tensor<i1>, tensor<f32>
    %i = stablehlo.select %gt, %ai, %bi : tensor<i1>, tensor<i32>
    stablehlo.return %v, %i : tensor<f32>, tensor<i32>
  }
  return %0#1 : tensor<3xi32>
}

// -----

// Views where the data stays put: a reshape that splits dims in order is an
// expand_shape, one that regroups across dims a tensor.reshape; a broadcast
// that only inserts unit dims (a layer axis) an expand_shape, a real one a
// generic.
// CHECK-LABEL: func.func @views
// CHECK: %[[SPLIT:.*]] = tensor.expand_shape %arg0 {{\[}}[0], [1, 2]] output_shape [4, 2, 3] : tensor<4x6xf32> into tensor<4x2x3xf32>
// CHECK: %[[REGROUP:.*]] = tensor.reshape %arg0(%{{.*}}) : (tensor<4x6xf32>, tensor<2xi64>) -> tensor<6x4xf32>
// CHECK: %[[UNIT:.*]] = tensor.expand_shape %arg0 {{\[}}[0, 1], [2, 3]] output_shape [1, 4, 6, 1] : tensor<4x6xf32> into tensor<1x4x6x1xf32>
// CHECK: %[[WIDE:.*]] = linalg.generic
// CHECK: return %[[SPLIT]], %[[REGROUP]], %[[UNIT]], %[[WIDE]]
func.func @views(%a: tensor<4x6xf32>) -> (tensor<4x2x3xf32>, tensor<6x4xf32>, tensor<1x4x6x1xf32>, tensor<4x6x2xf32>) {
  %0 = stablehlo.reshape %a : (tensor<4x6xf32>) -> tensor<4x2x3xf32>
  %1 = stablehlo.reshape %a : (tensor<4x6xf32>) -> tensor<6x4xf32>
  %2 = stablehlo.broadcast_in_dim %a, dims = [1, 2] : (tensor<4x6xf32>) -> tensor<1x4x6x1xf32>
  %3 = stablehlo.broadcast_in_dim %a, dims = [0, 1] : (tensor<4x6xf32>) -> tensor<4x6x2xf32>
  return %0, %1, %2, %3 : tensor<4x2x3xf32>, tensor<6x4xf32>, tensor<1x4x6x1xf32>, tensor<4x6x2xf32>
}
