// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops | FileCheck %s

// A decode GEMV (one row, f16 weights): K cut into 4 chunks of 128 rows of B
// run in parallel, each streaming its rows with widened 8-lane FMAs into its
// own partial row (a scalar tail for 100 % 8 columns); a parallel loop adds
// the partials into the result, allocated at full rank and written through
// its [rows, n] collapse.
#a = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#b = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
#c = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @gemv_f16
// CHECK: %[[ROWS:.+]] = tensor.collapse_shape %arg0 {{\[}}[0, 1], [2]]
// CHECK: %[[A:.+]] = bufferization.to_buffer %[[ROWS]] read_only
// CHECK: %[[B:.+]] = bufferization.to_buffer %arg1 read_only
// CHECK: %[[FULL:.+]] = memref.alloc() : memref<1x1x100xf32>
// CHECK: %[[OUT2:.+]] = memref.collapse_shape %[[FULL]] {{\[}}[0, 1], [2]]
// CHECK: %[[PARTIALS:.+]] = memref.alloc(%{{.+}}) : memref<4x1x?xf32>
// CHECK: scf.parallel (%[[CHUNK:.+]]) = (%{{.+}}) to (%c4
// CHECK:   vector.load %[[B]][%{{.+}}, %{{.+}}] : memref<512x100xf16, {{.+}}>, vector<8xf16>
// CHECK:   arith.extf %{{.+}} : vector<8xf16> to vector<8xf32>
// CHECK:   vector.fma
// CHECK:   vector.store %{{.+}}, %[[PARTIALS]][%[[CHUNK]]
// CHECK: scf.parallel
// CHECK-COUNT-3: arith.addf %{{.+}} : vector<8xf32>
// CHECK: vector.store %{{.+}}, %[[OUT2]]
// CHECK: %[[OUT:.+]] = bufferization.to_tensor %[[FULL]]
// CHECK: return %[[OUT]]
// CHECK-NOT: linalg.generic
func.func @gemv_f16(%x: tensor<1x1x512xf16>, %w: tensor<512x100xf16>)
    -> tensor<1x1x100xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x1x100xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x1x100xf32>)
      -> tensor<1x1x100xf32>
  %r = linalg.generic {indexing_maps = [#a, #b, #c],
      iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<1x1x512xf16>, tensor<512x100xf16>)
      outs(%init : tensor<1x1x100xf32>) {
  ^bb0(%p: f16, %q: f16, %acc: f32):
    %pe = arith.extf %p : f16 to f32
    %qe = arith.extf %q : f16 to f32
    %m = arith.mulf %pe, %qe : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x1x100xf32>
  return %r : tensor<1x1x100xf32>
}

// -----

// Many (dynamic) rows, f32: blocks of 8 rows in parallel, each streaming all
// of B into its slice of the result.
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @rows_f32
// CHECK: %[[A:.+]] = bufferization.to_buffer %arg0 read_only
// CHECK: %[[OUT:.+]] = memref.alloc(%{{.+}}) : memref<?x64xf32>
// CHECK: %[[BLOCKS:.+]] = arith.ceildivui %{{.+}}, %c8
// CHECK: scf.parallel (%{{.+}}) = (%{{.+}}) to (%[[BLOCKS]])
// CHECK:   %[[BLOCK:.+]] = memref.subview %[[OUT]]
// CHECK:   vector.fma
// CHECK:   vector.store %{{.+}}, %[[BLOCK]]
// CHECK: bufferization.to_tensor %[[OUT]]
func.func @rows_f32(%x: tensor<?x32xf32>, %w: tensor<32x64xf32>)
    -> tensor<?x64xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x32xf32>
  %e = tensor.empty(%n) : tensor<?x64xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<?x64xf32>)
      -> tensor<?x64xf32>
  %r = linalg.generic {indexing_maps = [#a, #b, #c],
      iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<?x32xf32>, tensor<32x64xf32>)
      outs(%init : tensor<?x64xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x64xf32>
  return %r : tensor<?x64xf32>
}

// -----

// Contractions of another shape stay linalg: B read transposed, a batched B,
// an init that is not zero.
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#bt = affine_map<(d0, d1, d2) -> (d1, d2)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @transposed_b
// CHECK: linalg.generic
// CHECK-NOT: vector.fma
func.func @transposed_b(%x: tensor<4x32xf32>, %w: tensor<64x32xf32>)
    -> tensor<4x64xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x64xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<4x64xf32>)
      -> tensor<4x64xf32>
  %r = linalg.generic {indexing_maps = [#a, #bt, #c],
      iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<4x32xf32>, tensor<64x32xf32>)
      outs(%init : tensor<4x64xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<4x64xf32>
  return %r : tensor<4x64xf32>
}

// -----

#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @accumulates_onto_bias
// CHECK: linalg.generic
// CHECK-NOT: vector.fma
func.func @accumulates_onto_bias(%x: tensor<4x32xf32>, %w: tensor<32x64xf32>,
                                 %bias: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %r = linalg.generic {indexing_maps = [#a, #b, #c],
      iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<4x32xf32>, tensor<32x64xf32>)
      outs(%bias : tensor<4x64xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<4x64xf32>
  return %r : tensor<4x64xf32>
}

// -----

// Batch and sequence both dynamic: the result is allocated [?, ?, 64] from
// A's dims and written through its [[0, 1], [2]] collapse; no expand_shape
// of a group with two dynamic sizes (upstream's strided-metadata expansion
// cannot lower one) is left.
#a = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#b = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
#c = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @batch_and_rows_dynamic
// CHECK: %[[FULL:.+]] = memref.alloc(%{{.+}}, %{{.+}}) : memref<?x?x64xf32>
// CHECK: %[[OUT:.+]] = memref.collapse_shape %[[FULL]] {{\[}}[0, 1], [2]] : memref<?x?x64xf32> into memref<?x64xf32>
// CHECK: vector.fma
// CHECK: bufferization.to_tensor %[[FULL]]
// CHECK-NOT: expand_shape
func.func @batch_and_rows_dynamic(%x: tensor<?x?x32xf32>,
    %w: tensor<32x64xf32>) -> tensor<?x?x64xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %b = tensor.dim %x, %c0 : tensor<?x?x32xf32>
  %s = tensor.dim %x, %c1 : tensor<?x?x32xf32>
  %e = tensor.empty(%b, %s) : tensor<?x?x64xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<?x?x64xf32>)
      -> tensor<?x?x64xf32>
  %r = linalg.generic {indexing_maps = [#a, #b, #c],
      iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<?x?x32xf32>, tensor<32x64xf32>)
      outs(%init : tensor<?x?x64xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %t = arith.addf %acc, %m : f32
    linalg.yield %t : f32
  } -> tensor<?x?x64xf32>
  return %r : tensor<?x?x64xf32>
}
