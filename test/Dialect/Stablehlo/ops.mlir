// RUN: hgc-opt %s -split-input-file | hgc-opt -split-input-file | FileCheck %s
// RUN: hgc-opt %s -split-input-file -mlir-print-op-generic \
// RUN:   | hgc-opt -split-input-file | FileCheck %s

// Every op of the subset in StableHLO's pretty form, printed back the same
// way from both print forms.

// CHECK-LABEL: func.func @elementwise
// CHECK: stablehlo.add %arg0, %arg1 : tensor<2x3xf32>
// CHECK: stablehlo.subtract %{{.*}}, %arg1 : tensor<2x3xf32>
// CHECK: stablehlo.multiply
// CHECK: stablehlo.divide
// CHECK: stablehlo.maximum
// CHECK: stablehlo.minimum
// CHECK: stablehlo.exponential %{{.*}} : tensor<2x3xf32>
// CHECK: stablehlo.tanh
// CHECK: stablehlo.negate
// CHECK: stablehlo.rsqrt
// CHECK: stablehlo.convert %{{.*}} : (tensor<2x3xf32>) -> tensor<2x3xbf16>
// CHECK: stablehlo.compare GT, %arg0, %arg1, FLOAT : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
// CHECK: stablehlo.and %{{.*}}, %{{.*}} : tensor<2x3xi1>
// CHECK: stablehlo.select %{{.*}}, %arg0, %arg1 : tensor<2x3xi1>, tensor<2x3xf32>
func.func @elementwise(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xbf16>) {
  %0 = stablehlo.add %a, %b : tensor<2x3xf32>
  %1 = stablehlo.subtract %0, %b : tensor<2x3xf32>
  %2 = stablehlo.multiply %1, %b : tensor<2x3xf32>
  %3 = stablehlo.divide %2, %b : tensor<2x3xf32>
  %4 = stablehlo.maximum %3, %b : tensor<2x3xf32>
  %5 = stablehlo.minimum %4, %b : tensor<2x3xf32>
  %6 = stablehlo.exponential %5 : tensor<2x3xf32>
  %7 = stablehlo.tanh %6 : tensor<2x3xf32>
  %8 = stablehlo.negate %7 : tensor<2x3xf32>
  %9 = stablehlo.rsqrt %8 : tensor<2x3xf32>
  %10 = stablehlo.convert %9 : (tensor<2x3xf32>) -> tensor<2x3xbf16>
  %11 = stablehlo.compare GT, %a, %b, FLOAT : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xi1>
  %12 = stablehlo.and %11, %11 : tensor<2x3xi1>
  %13 = stablehlo.select %12, %a, %b : tensor<2x3xi1>, tensor<2x3xf32>
  return %13, %10 : tensor<2x3xf32>, tensor<2x3xbf16>
}

// -----

// CHECK-LABEL: func.func @structural
// CHECK: stablehlo.constant dense<1.250000e-01> : tensor<f32>
// CHECK: stablehlo.broadcast_in_dim %{{.*}}, dims = [] : (tensor<f32>) -> tensor<2x3xf32>
// CHECK: stablehlo.iota dim = 1 : tensor<2x3xi32>
// CHECK: stablehlo.reshape %arg0 : (tensor<2x3xf32>) -> tensor<3x2xf32>
// CHECK: stablehlo.transpose %arg0, dims = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
// CHECK: stablehlo.dot_general %arg0, %{{.*}}, batching_dims = [0] x [0], contracting_dims = [1] x [1], precision = [DEFAULT, HIGHEST] : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2xf32>
// CHECK: stablehlo.dot_general %arg0, %{{.*}}, contracting_dims = [1] x [0], algorithm = <lhs_precision_type = bf16, rhs_precision_type = bf16, accumulation_type = f32, lhs_component_count = 1, rhs_component_count = 1, num_primitive_operations = 1, allow_imprecise_accumulation = false> : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
// CHECK: stablehlo.reduce(%arg0 init: %{{.*}}) applies stablehlo.maximum across dimensions = [1] : (tensor<2x3xf32>, tensor<f32>) -> tensor<2xf32>
// CHECK: stablehlo.reduce(%arg0 init: %{{.*}}) across dimensions = [0] : (tensor<2x3xf32>, tensor<f32>) -> tensor<3xf32>
// CHECK-NEXT: reducer(%[[A:.*]]: tensor<f32>, %[[B:.*]]: tensor<f32>)
// CHECK: stablehlo.return %{{.*}} : tensor<f32>
func.func @structural(%a: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xi32>, tensor<3x2xf32>, tensor<2xf32>, tensor<2x2xf32>, tensor<2xf32>, tensor<3xf32>) {
  %c = stablehlo.constant dense<1.250000e-01> : tensor<f32>
  %0 = stablehlo.broadcast_in_dim %c, dims = [] : (tensor<f32>) -> tensor<2x3xf32>
  %1 = stablehlo.iota dim = 1 : tensor<2x3xi32>
  %2 = stablehlo.reshape %a : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %3 = stablehlo.transpose %a, dims = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %4 = stablehlo.dot_general %a, %0, batching_dims = [0] x [0], contracting_dims = [1] x [1], precision = [DEFAULT, HIGHEST] : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2xf32>
  %5 = stablehlo.dot_general %a, %3, contracting_dims = [1] x [0], algorithm = <lhs_precision_type = bf16, rhs_precision_type = bf16, accumulation_type = f32, lhs_component_count = 1, rhs_component_count = 1, num_primitive_operations = 1, allow_imprecise_accumulation = false> : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
  %6 = stablehlo.reduce(%a init: %c) applies stablehlo.maximum across dimensions = [1] : (tensor<2x3xf32>, tensor<f32>) -> tensor<2xf32>
  %7 = stablehlo.reduce(%a init: %c) across dimensions = [0] : (tensor<2x3xf32>, tensor<f32>) -> tensor<3xf32>
   reducer(%x: tensor<f32>, %y: tensor<f32>) {
    %s = stablehlo.add %x, %y : tensor<f32>
    %t = stablehlo.multiply %s, %s : tensor<f32>
    stablehlo.return %t : tensor<f32>
  }
  return %0, %1, %2, %6, %5, %4, %7 : tensor<2x3xf32>, tensor<2x3xi32>, tensor<3x2xf32>, tensor<2xf32>, tensor<2x2xf32>, tensor<2xf32>, tensor<3xf32>
}

// -----

// CHECK-LABEL: func.func @calls
// CHECK: stablehlo.custom_call @some_target(%arg0) {has_side_effect = false} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK: stablehlo.composite "my.attention" %arg0 {composite_attributes = {scale = 5.000000e-01 : f32}, decomposition = @decomposition} : (tensor<4xf32>) -> tensor<4xf32>
func.func @calls(%a: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = stablehlo.custom_call @some_target(%a) {has_side_effect = false} : (tensor<4xf32>) -> tensor<4xf32>
  %1 = stablehlo.composite "my.attention" %a {composite_attributes = {scale = 0.5 : f32}, decomposition = @decomposition} : (tensor<4xf32>) -> tensor<4xf32>
  return %0, %1 : tensor<4xf32>, tensor<4xf32>
}
func.func private @decomposition(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

// -----

// The data movement and math of decoders (RoPE, KV caches, padding).
// CHECK-LABEL: func.func @data_movement
// CHECK: stablehlo.concatenate %arg0, %arg0, dim = 1 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x8xf32>
// CHECK: stablehlo.slice %{{.*}} [0:2, 1:7:2] : (tensor<2x8xf32>) -> tensor<2x3xf32>
// CHECK: stablehlo.dynamic_update_slice %arg0, %{{.*}}, %arg1, %arg1 : (tensor<2x4xf32>, tensor<1x4xf32>, tensor<i32>, tensor<i32>) -> tensor<2x4xf32>
// CHECK: stablehlo.dynamic_slice %{{.*}}, %arg1, %arg1, sizes = [1, 4] : (tensor<2x4xf32>, tensor<i32>, tensor<i32>) -> tensor<1x4xf32>
// CHECK: stablehlo.pad %{{.*}}, %{{.*}}, low = [1, 0], high = [0, -1], interior = [0, 1] : (tensor<1x4xf32>, tensor<f32>) -> tensor<2x6xf32>
// CHECK: stablehlo.cosine %{{.*}} : tensor<2x6xf32>
// CHECK: stablehlo.sine
// CHECK: stablehlo.floor
// CHECK: stablehlo.round_nearest_even
// CHECK: stablehlo.sign
// CHECK: stablehlo.clamp %{{.*}}, %{{.*}}, %{{.*}} : (tensor<f32>, tensor<2x6xf32>, tensor<f32>) -> tensor<2x6xf32>
// CHECK: stablehlo.is_finite %{{.*}} : (tensor<2x6xf32>) -> tensor<2x6xi1>
// CHECK: stablehlo.shift_right_logical %arg1, %arg1 : tensor<i32>
func.func @data_movement(%a: tensor<2x4xf32>, %i: tensor<i32>) -> (tensor<2x6xi1>, tensor<i32>) {
  %0 = stablehlo.concatenate %a, %a, dim = 1 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x8xf32>
  %1 = stablehlo.slice %0 [0:2, 1:7:2] : (tensor<2x8xf32>) -> tensor<2x3xf32>
  %2 = stablehlo.slice %a [0:1, 0:4] : (tensor<2x4xf32>) -> tensor<1x4xf32>
  %3 = stablehlo.dynamic_update_slice %a, %2, %i, %i : (tensor<2x4xf32>, tensor<1x4xf32>, tensor<i32>, tensor<i32>) -> tensor<2x4xf32>
  %4 = stablehlo.dynamic_slice %3, %i, %i, sizes = [1, 4] : (tensor<2x4xf32>, tensor<i32>, tensor<i32>) -> tensor<1x4xf32>
  %z = stablehlo.constant dense<0.0> : tensor<f32>
  %5 = stablehlo.pad %4, %z, low = [1, 0], high = [0, -1], interior = [0, 1] : (tensor<1x4xf32>, tensor<f32>) -> tensor<2x6xf32>
  %6 = stablehlo.cosine %5 : tensor<2x6xf32>
  %7 = stablehlo.sine %6 : tensor<2x6xf32>
  %8 = stablehlo.floor %7 : tensor<2x6xf32>
  %9 = stablehlo.round_nearest_even %8 : tensor<2x6xf32>
  %10 = stablehlo.sign %9 : tensor<2x6xf32>
  %11 = stablehlo.clamp %z, %10, %z : (tensor<f32>, tensor<2x6xf32>, tensor<f32>) -> tensor<2x6xf32>
  %12 = stablehlo.is_finite %11 : (tensor<2x6xf32>) -> tensor<2x6xi1>
  %13 = stablehlo.shift_right_logical %i, %i : tensor<i32>
  return %12, %13 : tensor<2x6xi1>, tensor<i32>
}

// -----

// gather prints in the generic form, as JAX writes it.
// CHECK-LABEL: func.func @gather
// CHECK: "stablehlo.gather"(%arg0, %arg1) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 16>}> : (tensor<50x16xf32>, tensor<7x1xi32>) -> tensor<7x16xf32>
// CHECK: #stablehlo.gather<collapsed_slice_dims = [1], operand_batching_dims = [0], start_indices_batching_dims = [0], start_index_map = [1], index_vector_dim = 2>
func.func @gather(%t: tensor<50x16xf32>, %i: tensor<7x1xi32>, %r: tensor<7x16xf32>, %j: tensor<7x16x1xi32>) -> (tensor<7x16xf32>, tensor<7x16xf32>) {
  %0 = "stablehlo.gather"(%t, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 16>}> : (tensor<50x16xf32>, tensor<7x1xi32>) -> tensor<7x16xf32>
  %1 = "stablehlo.gather"(%r, %j) <{dimension_numbers = #stablehlo.gather<collapsed_slice_dims = [1], operand_batching_dims = [0], start_indices_batching_dims = [0], start_index_map = [1], index_vector_dim = 2>, indices_are_sorted = false, slice_sizes = array<i64: 1, 1>}> : (tensor<7x16xf32>, tensor<7x16x1xi32>) -> tensor<7x16xf32>
  return %0, %1 : tensor<7x16xf32>, tensor<7x16xf32>
}

// -----

// scatter prints in the generic form, as JAX writes it.
// CHECK-LABEL: func.func @scatter
// CHECK: "stablehlo.scatter"(%arg0, %arg1, %arg2) <{indices_are_sorted = true, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1, 2], input_batching_dims = [0], scatter_indices_batching_dims = [0], scatter_dims_to_operand_dims = [1, 2], index_vector_dim = 1>, unique_indices = true}>
// CHECK: stablehlo.return %arg4 : tensor<f32>
func.func @scatter(%c: tensor<2x16x4xf32>, %i: tensor<2x2xi32>, %u: tensor<2x1x4xf32>) -> tensor<2x16x4xf32> {
  %0 = "stablehlo.scatter"(%c, %i, %u) <{indices_are_sorted = true, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1, 2], input_batching_dims = [0], scatter_indices_batching_dims = [0], scatter_dims_to_operand_dims = [1, 2], index_vector_dim = 1>, unique_indices = true}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    stablehlo.return %b : tensor<f32>
  }) : (tensor<2x16x4xf32>, tensor<2x2xi32>, tensor<2x1x4xf32>) -> tensor<2x16x4xf32>
  return %0 : tensor<2x16x4xf32>
}

// -----

// while (pretty: iteration values named once, both regions use them), case
// and if (generic, as JAX prints them), optimization_barrier and
// reduce_precision.
// CHECK-LABEL: func.func @control_flow
// CHECK: %[[LOOP:.*]]:2 = stablehlo.while(%[[I:.*]] = %{{.*}}, %[[X:.*]] = %arg0) : tensor<i32>, tensor<4xf32>
// CHECK-NEXT: cond {
// CHECK: stablehlo.compare LT, %[[I]], %{{.*}}, SIGNED
// CHECK: stablehlo.return %{{.*}} : tensor<i1>
// CHECK: } do {
// CHECK: stablehlo.add %[[I]], %{{.*}} : tensor<i32>
// CHECK: stablehlo.multiply %[[X]], %[[X]] : tensor<4xf32>
// CHECK: stablehlo.return %{{.*}}, %{{.*}} : tensor<i32>, tensor<4xf32>
// CHECK: %[[CASE:.*]] = "stablehlo.case"(%arg1) ({
// CHECK: stablehlo.return %[[LOOP]]#1 : tensor<4xf32>
// CHECK: }, {
// CHECK: stablehlo.negate
// CHECK: }) : (tensor<i32>) -> tensor<4xf32>
// CHECK: "stablehlo.if"(%arg2) ({
// CHECK: }) : (tensor<i1>) -> tensor<4xf32>
// CHECK: stablehlo.optimization_barrier %{{.*}}, %arg1 : tensor<4xf32>, tensor<i32>
// CHECK: stablehlo.reduce_precision %{{.*}}, format = e5m10 : tensor<4xf32>
func.func @control_flow(%a: tensor<4xf32>, %k: tensor<i32>, %p: tensor<i1>) -> tensor<4xf32> {
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
  %1 = "stablehlo.case"(%k) ({
    stablehlo.return %0#1 : tensor<4xf32>
  }, {
    %n = stablehlo.negate %0#1 : tensor<4xf32>
    stablehlo.return %n : tensor<4xf32>
  }) : (tensor<i32>) -> tensor<4xf32>
  %2 = "stablehlo.if"(%p) ({
    stablehlo.return %1 : tensor<4xf32>
  }, {
    stablehlo.return %a : tensor<4xf32>
  }) : (tensor<i1>) -> tensor<4xf32>
  %3:2 = stablehlo.optimization_barrier %2, %k : tensor<4xf32>, tensor<i32>
  %4 = stablehlo.reduce_precision %3#0, format = e5m10 : tensor<4xf32>
  return %4 : tensor<4xf32>
}
