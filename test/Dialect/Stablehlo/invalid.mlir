// RUN: hgc-opt %s -split-input-file -verify-diagnostics

func.func @shape_mismatch(%a: tensor<2x3xf32>, %b: tensor<3x2xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{operand #1 of shape 'tensor<3x2xf32>' does not match the result 'tensor<2x3xf32>'}}
  %0 = "stablehlo.add"(%a, %b) : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @select_predicate(%p: tensor<2xf32>, %a: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{predicate must be a tensor of i1}}
  %0 = stablehlo.select %p, %a, %a : tensor<2xf32>, tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @iota_dim() -> tensor<2x3xi32> {
  // expected-error @+1 {{iota dimension 2 is outside rank 2}}
  %0 = stablehlo.iota dim = 2 : tensor<2x3xi32>
  return %0 : tensor<2x3xi32>
}

// -----

func.func @reshape_count(%a: tensor<2x3xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{cannot reshape 'tensor<2x3xf32>' into 'tensor<4xf32>'}}
  %0 = stablehlo.reshape %a : (tensor<2x3xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @not_a_permutation(%a: tensor<2x3xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{dims are not a permutation of 0..1}}
  %0 = stablehlo.transpose %a, dims = [1, 1] : (tensor<2x3xf32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

func.func @transpose_shape(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{result 'tensor<2x3xf32>' is not 'tensor<2x3xf32>' permuted}}
  %0 = stablehlo.transpose %a, dims = [1, 0] : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @broadcast_dims(%a: tensor<3xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{operand dimension 0 (3) cannot broadcast to 4}}
  %0 = stablehlo.broadcast_in_dim %a, dims = [1] : (tensor<3xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @broadcast_rank(%a: tensor<3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{needs one dim per operand dimension (1), got 2}}
  %0 = stablehlo.broadcast_in_dim %a, dims = [0, 1] : (tensor<3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @compare_types(%a: tensor<2xf32>, %b: tensor<2xi32>) -> tensor<2xi1> {
  // expected-error @+1 {{compares 'tensor<2xf32>' with 'tensor<2xi32>'}}
  %0 = stablehlo.compare LT, %a, %b : (tensor<2xf32>, tensor<2xi32>) -> tensor<2xi1>
  return %0 : tensor<2xi1>
}

// -----

func.func @compare_direction(%a: tensor<2xf32>) -> tensor<2xi1> {
  // expected-error @+1 {{unknown comparison direction SOMETIMES}}
  %0 = stablehlo.compare SOMETIMES, %a, %a : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xi1>
  return %0 : tensor<2xi1>
}

// -----

func.func @dot_dims(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{rhs contracting dimension 2 is invalid for 'tensor<3x4xf32>'}}
  %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [2] : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @dot_sizes(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{contracting dimensions differ in size}}
  %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @dot_result(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<4x2xf32> {
  // expected-error @+1 {{result 'tensor<4x2xf32>' is not batch x lhs free x rhs free dimensions}}
  %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @dot_field(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{unknown dot_general field 'fast'}}
  %0 = stablehlo.dot_general %a, %b, fast = [1] : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @dot_precision(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{unknown precision FASTEST}}
  %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0], precision = [FASTEST, DEFAULT] : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @reduce_result(%a: tensor<2x3xf32>, %c: tensor<f32>) -> tensor<3xf32> {
  // expected-error @+1 {{result #0 'tensor<3xf32>' is not the input without the reduced dimensions}}
  %0 = stablehlo.reduce(%a init: %c) applies stablehlo.add across dimensions = [1] : (tensor<2x3xf32>, tensor<f32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @reduce_init(%a: tensor<2x3xf32>, %c: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{init value #0 must be a scalar tensor of 'f32'}}
  %0 = "stablehlo.reduce"(%a, %c) <{dimensions = array<i64: 1>}> ({
  ^bb0(%x: tensor<f32>, %y: tensor<f32>):
    "stablehlo.return"(%x) : (tensor<f32>) -> ()
  }) : (tensor<2x3xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @reducer_op(%a: tensor<2x3xf32>, %c: tensor<f32>) -> tensor<2xf32> {
  // expected-error @+1 {{unknown reducer op stablehlo.fold}}
  %0 = stablehlo.reduce(%a init: %c) applies stablehlo.fold across dimensions = [1] : (tensor<2x3xf32>, tensor<f32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @functional_arity(%a: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{expected a (2 operand types) -> (1 result type) function type}}
  %0 = stablehlo.add %a, %a : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @concatenate_total(%a: tensor<2x4xf32>) -> tensor<2x9xf32> {
  // expected-error @+1 {{inputs hold 8 along dimension 1, the result 9}}
  %0 = stablehlo.concatenate %a, %a, dim = 1 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x9xf32>
  return %0 : tensor<2x9xf32>
}

// -----

func.func @concatenate_other_dims(%a: tensor<2x4xf32>, %b: tensor<3x4xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{input 'tensor<3x4xf32>' differs from the result 'tensor<2x8xf32>' outside dimension 1}}
  %0 = stablehlo.concatenate %a, %b, dim = 1 : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @concatenate_dimension(%a: tensor<4xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{dimension 1 is outside rank 1}}
  %0 = stablehlo.concatenate %a, %a, dim = 1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @slice_bounds(%a: tensor<8xf32>) -> tensor<9xf32> {
  // expected-error @+1 {{dimension 0: [0:9:1] is not a slice of 8}}
  %0 = stablehlo.slice %a [0:9] : (tensor<8xf32>) -> tensor<9xf32>
  return %0 : tensor<9xf32>
}

// -----

func.func @slice_shape(%a: tensor<8xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{result 'tensor<4xf32>' is not the slice's shape}}
  %0 = stablehlo.slice %a [0:8:3] : (tensor<8xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @slice_rank(%a: tensor<2x8xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{needs a start, limit and stride per dimension of 'tensor<2x8xf32>'}}
  %0 = stablehlo.slice %a [0:2] : (tensor<2x8xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @dynamic_slice_size(%a: tensor<8xf32>, %i: tensor<i32>) -> tensor<9xf32> {
  // expected-error @+1 {{slice size 9 of dimension 0 does not fit 'tensor<8xf32>' and 'tensor<9xf32>'}}
  %0 = stablehlo.dynamic_slice %a, %i, sizes = [9] : (tensor<8xf32>, tensor<i32>) -> tensor<9xf32>
  return %0 : tensor<9xf32>
}

// -----

func.func @dynamic_slice_index(%a: tensor<8xf32>, %i: tensor<1xi32>) -> tensor<2xf32> {
  // expected-error @+1 {{start indices must be rank-0 integer tensors, got 'tensor<1xi32>'}}
  %0 = stablehlo.dynamic_slice %a, %i, sizes = [2] : (tensor<8xf32>, tensor<1xi32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @dynamic_slice_rank(%a: tensor<8xf32>, %i: tensor<i32>) -> tensor<2xf32> {
  // expected-error @+1 {{needs a slice size per dimension of 'tensor<8xf32>'}}
  %0 = stablehlo.dynamic_slice %a, %i, sizes = [2, 1] : (tensor<8xf32>, tensor<i32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @update_indices(%a: tensor<2x4xf32>, %u: tensor<1x4xf32>, %i: tensor<i32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{needs one start index per dimension (2), got 1}}
  %0 = stablehlo.dynamic_update_slice %a, %u, %i : (tensor<2x4xf32>, tensor<1x4xf32>, tensor<i32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @update_fits(%a: tensor<2x4xf32>, %u: tensor<3x4xf32>, %i: tensor<i32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{update 'tensor<3x4xf32>' does not fit in 'tensor<2x4xf32>'}}
  %0 = stablehlo.dynamic_update_slice %a, %u, %i, %i : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<i32>, tensor<i32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @update_type(%a: tensor<2x4xf32>, %u: tensor<1x4xf16>, %i: tensor<i32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{update 'tensor<1x4xf16>' does not match 'tensor<2x4xf32>'}}
  %0 = stablehlo.dynamic_update_slice %a, %u, %i, %i : (tensor<2x4xf32>, tensor<1x4xf16>, tensor<i32>, tensor<i32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @update_result(%a: tensor<2x4xf32>, %u: tensor<1x4xf32>, %i: tensor<i32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{result 'tensor<2x5xf32>' is not the operand's type}}
  %0 = stablehlo.dynamic_update_slice %a, %u, %i, %i : (tensor<2x4xf32>, tensor<1x4xf32>, tensor<i32>, tensor<i32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @pad_shape(%a: tensor<8xf32>, %v: tensor<f32>) -> tensor<9xf32> {
  // expected-error @+1 {{result 'tensor<9xf32>' is not the padded shape (dimension 0: 10)}}
  %0 = stablehlo.pad %a, %v, low = [1], high = [1], interior = [0] : (tensor<8xf32>, tensor<f32>) -> tensor<9xf32>
  return %0 : tensor<9xf32>
}

// -----

func.func @pad_value(%a: tensor<8xf32>, %v: tensor<1xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{padding value must be a rank-0 tensor of 'f32'}}
  %0 = stablehlo.pad %a, %v, low = [0], high = [0], interior = [0] : (tensor<8xf32>, tensor<1xf32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @pad_interior(%a: tensor<8xf32>, %v: tensor<f32>) -> tensor<8xf32> {
  // expected-error @+1 {{dimension 0 cannot be padded}}
  %0 = stablehlo.pad %a, %v, low = [0], high = [0], interior = [-1] : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @pad_lists(%a: tensor<8xf32>, %v: tensor<f32>) -> tensor<8xf32> {
  // expected-error @+1 {{needs low, high and interior padding per dimension of 'tensor<8xf32>'}}
  %0 = stablehlo.pad %a, %v, low = [0, 0], high = [0], interior = [0] : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @clamp_shape(%a: tensor<8xf32>, %b: tensor<4xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{operand #0 of shape 'tensor<4xf32>' does not match the result 'tensor<8xf32>'}}
  %0 = stablehlo.clamp %b, %a, %a : (tensor<4xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @gather_result(%t: tensor<50x16xf32>, %i: tensor<7x1xi32>) -> tensor<7x8xf32> {
  // expected-error @+1 {{result 'tensor<7x8xf32>' is not the gathered shape (dimension 1: 16)}}
  %0 = "stablehlo.gather"(%t, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, slice_sizes = array<i64: 1, 16>}> : (tensor<50x16xf32>, tensor<7x1xi32>) -> tensor<7x8xf32>
  return %0 : tensor<7x8xf32>
}

// -----

func.func @gather_map(%t: tensor<50x16xf32>, %i: tensor<7x2xi32>) -> tensor<7x16xf32> {
  // expected-error @+1 {{start_index_map has 1 dims for index vectors of 2}}
  %0 = "stablehlo.gather"(%t, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, slice_sizes = array<i64: 1, 16>}> : (tensor<50x16xf32>, tensor<7x2xi32>) -> tensor<7x16xf32>
  return %0 : tensor<7x16xf32>
}

// -----

func.func @gather_collapsed(%t: tensor<50x16xf32>, %i: tensor<7x1xi32>) -> tensor<7x2x16xf32> {
  // expected-error @+1 {{slice size 2 of dimension 0 does not fit}}
  %0 = "stablehlo.gather"(%t, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [1, 2], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, slice_sizes = array<i64: 2, 16>}> : (tensor<50x16xf32>, tensor<7x1xi32>) -> tensor<7x2x16xf32>
  return %0 : tensor<7x2x16xf32>
}

// -----

func.func @gather_vector_dim(%t: tensor<50x16xf32>, %i: tensor<7x1xi32>) -> tensor<7x16xf32> {
  // expected-error @+1 {{index_vector_dim 3 is outside the start indices' rank}}
  %0 = "stablehlo.gather"(%t, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 3>, slice_sizes = array<i64: 1, 16>}> : (tensor<50x16xf32>, tensor<7x1xi32>) -> tensor<7x16xf32>
  return %0 : tensor<7x16xf32>
}

// -----

func.func @gather_batching(%r: tensor<7x16xf32>, %j: tensor<6x16x1xi32>) -> tensor<6x16xf32> {
  // expected-error @+1 {{batching dims 0 of the operand and 0 of the start indices do not match}}
  %0 = "stablehlo.gather"(%r, %j) <{dimension_numbers = #stablehlo.gather<collapsed_slice_dims = [1], operand_batching_dims = [0], start_indices_batching_dims = [0], start_index_map = [1], index_vector_dim = 2>, slice_sizes = array<i64: 1, 1>}> : (tensor<7x16xf32>, tensor<6x16x1xi32>) -> tensor<6x16xf32>
  return %0 : tensor<6x16xf32>
}

// -----

func.func @gather_field(%t: tensor<50x16xf32>, %i: tensor<7x1xi32>) -> tensor<7x16xf32> {
  // expected-error @+1 {{unknown gather dimension field offsets}}
  %0 = "stablehlo.gather"(%t, %i) <{dimension_numbers = #stablehlo.gather<offsets = [1], index_vector_dim = 1>, slice_sizes = array<i64: 1, 16>}> : (tensor<50x16xf32>, tensor<7x1xi32>) -> tensor<7x16xf32>
  return %0 : tensor<7x16xf32>
}

// -----

func.func @scatter_combiner(%x: tensor<12x4xf32>, %i: tensor<6x1xi32>, %u: tensor<6x4xf32>) -> tensor<12x4xf32> {
  // expected-error @+1 {{combiner must return the update or apply one of add, multiply, maximum, minimum to both arguments}}
  %0 = "stablehlo.scatter"(%x, %i, %u) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.subtract %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<12x4xf32>, tensor<6x1xi32>, tensor<6x4xf32>) -> tensor<12x4xf32>
  return %0 : tensor<12x4xf32>
}

// -----

func.func @scatter_updates(%x: tensor<12x4xf32>, %i: tensor<6x1xi32>, %u: tensor<5x4xf32>) -> tensor<12x4xf32> {
  // expected-error @+1 {{update scatter dim 0 differs from the scatter indices}}
  %0 = "stablehlo.scatter"(%x, %i, %u) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    stablehlo.return %b : tensor<f32>
  }) : (tensor<12x4xf32>, tensor<6x1xi32>, tensor<5x4xf32>) -> tensor<12x4xf32>
  return %0 : tensor<12x4xf32>
}

// -----

func.func @scatter_window(%x: tensor<12x4xf32>, %i: tensor<6x1xi32>, %u: tensor<6x4xf32>) -> tensor<12x4xf32> {
  // expected-error @+1 {{update_window_dims must be sorted, unique, one per window dim of the operand (1)}}
  %0 = "stablehlo.scatter"(%x, %i, %u) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [0, 1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    stablehlo.return %b : tensor<f32>
  }) : (tensor<12x4xf32>, tensor<6x1xi32>, tensor<6x4xf32>) -> tensor<12x4xf32>
  return %0 : tensor<12x4xf32>
}

// -----

func.func @scatter_map(%x: tensor<12x4xf32>, %i: tensor<6x2xi32>, %u: tensor<6x4xf32>) -> tensor<12x4xf32> {
  // expected-error @+1 {{scatter_dims_to_operand_dims has 1 dims for index vectors of 2}}
  %0 = "stablehlo.scatter"(%x, %i, %u) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    stablehlo.return %b : tensor<f32>
  }) : (tensor<12x4xf32>, tensor<6x2xi32>, tensor<6x4xf32>) -> tensor<12x4xf32>
  return %0 : tensor<12x4xf32>
}

// -----

func.func @scatter_result(%x: tensor<12x4xf32>, %i: tensor<6x1xi32>, %u: tensor<6x4xf32>) -> tensor<12x5xf32> {
  // expected-error @+1 {{result 'tensor<12x5xf32>' is not the operand's type}}
  %0 = "stablehlo.scatter"(%x, %i, %u) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    stablehlo.return %b : tensor<f32>
  }) : (tensor<12x4xf32>, tensor<6x1xi32>, tensor<6x4xf32>) -> tensor<12x5xf32>
  return %0 : tensor<12x5xf32>
}

// -----

func.func @while_body_changes_shape(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{body returns ('tensor<8xf32>') where ('tensor<4xf32>') is expected}}
  %0 = stablehlo.while(%iterArg = %a) : tensor<4xf32>
   cond {
    %t = stablehlo.constant dense<true> : tensor<i1>
    stablehlo.return %t : tensor<i1>
  } do {
    %c = stablehlo.concatenate %iterArg, %iterArg, dim = 0 : (tensor<4xf32>, tensor<4xf32>) -> tensor<8xf32>
    // expected-note @+1 {{returned here}}
    stablehlo.return %c : tensor<8xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

func.func @while_cond_not_predicate(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{cond returns ('tensor<4xf32>') where ('tensor<i1>') is expected}}
  %0 = stablehlo.while(%iterArg = %a) : tensor<4xf32>
   cond {
    // expected-note @+1 {{returned here}}
    stablehlo.return %iterArg : tensor<4xf32>
  } do {
    stablehlo.return %iterArg : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

func.func @while_region_arguments(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{body takes ('tensor<4xi32>') where ('tensor<4xf32>') is expected}}
  %0 = "stablehlo.while"(%a) ({
  ^bb0(%x: tensor<4xf32>):
    %t = stablehlo.constant dense<true> : tensor<i1>
    stablehlo.return %t : tensor<i1>
  }, {
  ^bb0(%x: tensor<4xi32>):
    stablehlo.return %a : tensor<4xf32>
  }) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @while_results(%a: tensor<4xf32>) -> tensor<4xf16> {
  // expected-error @+1 {{results ('tensor<4xf16>') differ from the operands ('tensor<4xf32>')}}
  %0 = "stablehlo.while"(%a) ({
  ^bb0(%x: tensor<4xf32>):
    %t = stablehlo.constant dense<true> : tensor<i1>
    stablehlo.return %t : tensor<i1>
  }, {
  ^bb0(%x: tensor<4xf32>):
    stablehlo.return %x : tensor<4xf32>
  }) : (tensor<4xf32>) -> tensor<4xf16>
  return %0 : tensor<4xf16>
}

// -----

func.func @case_branch_type(%k: tensor<i32>, %a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{branch #1 returns ('tensor<4xf16>') where ('tensor<4xf32>') is expected}}
  %0 = "stablehlo.case"(%k) ({
    stablehlo.return %a : tensor<4xf32>
  }, {
    %h = stablehlo.convert %a : (tensor<4xf32>) -> tensor<4xf16>
    // expected-note @+1 {{returned here}}
    stablehlo.return %h : tensor<4xf16>
  }) : (tensor<i32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @case_branch_arguments(%k: tensor<i32>, %a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{branch #0 must take no arguments}}
  %0 = "stablehlo.case"(%k) ({
  ^bb0(%x: tensor<4xf32>):
    stablehlo.return %x : tensor<4xf32>
  }) : (tensor<i32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @case_no_branches(%k: tensor<i32>) {
  // expected-error @+1 {{needs at least one branch}}
  "stablehlo.case"(%k) : (tensor<i32>) -> ()
  return
}

// -----

func.func @if_branch_terminator(%p: tensor<i1>, %a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{branch #1 must end in stablehlo.return}}
  %0 = "stablehlo.if"(%p) ({
    stablehlo.return %a : tensor<4xf32>
  }, {
    "func.return"(%a) : (tensor<4xf32>) -> ()
  }) : (tensor<i1>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @barrier_types(%a: tensor<4xf32>) -> tensor<4xf16> {
  // expected-error @+1 {{results must have the operands' types}}
  %0 = "stablehlo.optimization_barrier"(%a) : (tensor<4xf32>) -> tensor<4xf16>
  return %0 : tensor<4xf16>
}

// -----

func.func @reduce_precision_format(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{expected a format like e5m10}}
  %0 = stablehlo.reduce_precision %a, format = m10e5 : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @reduce_precision_exponent(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{attribute 'exponent_bits' failed to satisfy constraint}}
  %0 = stablehlo.reduce_precision %a, format = e0m10 : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @reduce_precision_type(%a: tensor<4xf32>) -> tensor<4xf16> {
  // expected-error @+1 {{result type 'tensor<4xf16>' differs from the operand's 'tensor<4xf32>'}}
  %0 = "stablehlo.reduce_precision"(%a) <{exponent_bits = 5 : i32, mantissa_bits = 10 : i32}> : (tensor<4xf32>) -> tensor<4xf16>
  return %0 : tensor<4xf16>
}

// -----

// offset_dims past the result's rank (a fuzzer's find: the verifier read
// past its batch dims).
func.func @gather_offset_dims_out_of_range(%t: tensor<50x16xf32>, %i: tensor<7x1xi32>) -> tensor<7x16xf32> {
  // expected-error @+1 {{offset_dims must be sorted, unique and within the result's rank (2)}}
  %0 = "stablehlo.gather"(%t, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [5], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, slice_sizes = array<i64: 1, 16>}> : (tensor<50x16xf32>, tensor<7x1xi32>) -> tensor<7x16xf32>
  return %0 : tensor<7x16xf32>
}

// -----

func.func @gather_offset_dims_repeated(%t: tensor<50x16x4xf32>, %i: tensor<7x1xi32>) -> tensor<7x16x4xf32> {
  // expected-error @+1 {{offset_dims must be sorted, unique and within the result's rank (3)}}
  %0 = "stablehlo.gather"(%t, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [1, 1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, slice_sizes = array<i64: 1, 16, 4>}> : (tensor<50x16x4xf32>, tensor<7x1xi32>) -> tensor<7x16x4xf32>
  return %0 : tensor<7x16x4xf32>
}

// -----

// Regions whose block has no terminator at all (a fuzzer's find: the
// verifiers run before MLIR checks terminators, and read an empty block's
// last op).
func.func @while_cond_empty(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{cond must end in stablehlo.return}}
  %0 = stablehlo.while(%iterArg = %a) : tensor<4xf32>
   cond {
  } do {
    stablehlo.return %iterArg : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}

// -----

func.func @reduce_body_empty(%a: tensor<2x3xf32>, %c: tensor<f32>) -> tensor<2xf32> {
  // expected-error @+1 {{reducer must return 1 values}}
  %0 = "stablehlo.reduce"(%a, %c) <{dimensions = array<i64: 1>}> ({
  ^bb0(%x: tensor<f32>, %y: tensor<f32>):
  }) : (tensor<2x3xf32>, tensor<f32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @scatter_body_empty(%x: tensor<12x4xf32>, %i: tensor<6x1xi32>, %u: tensor<6x4xf32>) -> tensor<12x4xf32> {
  // expected-error @+1 {{combiner must return the update or apply one of add, multiply, maximum, minimum to both arguments}}
  %0 = "stablehlo.scatter"(%x, %i, %u) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
  }) : (tensor<12x4xf32>, tensor<6x1xi32>, tensor<6x4xf32>) -> tensor<12x4xf32>
  return %0 : tensor<12x4xf32>
}
