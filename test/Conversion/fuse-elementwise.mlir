// RUN: hgc-opt %s -split-input-file -hgc-fuse-elementwise | FileCheck %s

// SwiGLU as imported: sigmoid, x * sigmoid, * up; one generic remains.
#id = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @swiglu
// CHECK: linalg.generic
// CHECK:   math.exp
// CHECK:   arith.mulf
// CHECK:   arith.mulf
// CHECK-NOT: linalg.generic
func.func @swiglu(%gate: tensor<1x64xf32>, %up: tensor<1x64xf32>)
    -> tensor<1x64xf32> {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<1x64xf32>
  %sig = linalg.generic {indexing_maps = [#id, #id],
      iterator_types = ["parallel", "parallel"]}
      ins(%gate : tensor<1x64xf32>) outs(%e : tensor<1x64xf32>) {
  ^bb0(%g: f32, %o: f32):
    %n = arith.negf %g : f32
    %x = math.exp %n : f32
    %d = arith.addf %x, %one : f32
    %s = arith.divf %one, %d : f32
    linalg.yield %s : f32
  } -> tensor<1x64xf32>
  %silu = linalg.generic {indexing_maps = [#id, #id, #id],
      iterator_types = ["parallel", "parallel"]}
      ins(%gate, %sig : tensor<1x64xf32>, tensor<1x64xf32>)
      outs(%e : tensor<1x64xf32>) {
  ^bb0(%g: f32, %s: f32, %o: f32):
    %m = arith.mulf %g, %s : f32
    linalg.yield %m : f32
  } -> tensor<1x64xf32>
  %act = linalg.generic {indexing_maps = [#id, #id, #id],
      iterator_types = ["parallel", "parallel"]}
      ins(%silu, %up : tensor<1x64xf32>, tensor<1x64xf32>)
      outs(%e : tensor<1x64xf32>) {
  ^bb0(%a: f32, %u: f32, %o: f32):
    %m = arith.mulf %a, %u : f32
    linalg.yield %m : f32
  } -> tensor<1x64xf32>
  return %act : tensor<1x64xf32>
}

// -----

// A producer with two users stays (fusing would compute it twice); an
// elementwise producer of a contraction stays (the contraction keeps the
// shape the host lowering streams).
#id = affine_map<(d0, d1) -> (d0, d1)>
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @kept
// CHECK-COUNT-5: linalg.generic
func.func @kept(%x: tensor<1x64xf32>, %w: tensor<64x8xf32>)
    -> (tensor<1x64xf32>, tensor<1x64xf32>, tensor<1x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x64xf32>
  %sq = linalg.generic {indexing_maps = [#id, #id],
      iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<1x64xf32>) outs(%e : tensor<1x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %m = arith.mulf %v, %v : f32
    linalg.yield %m : f32
  } -> tensor<1x64xf32>
  %plus = linalg.generic {indexing_maps = [#id, #id, #id],
      iterator_types = ["parallel", "parallel"]}
      ins(%sq, %x : tensor<1x64xf32>, tensor<1x64xf32>)
      outs(%e : tensor<1x64xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<1x64xf32>
  %minus = linalg.generic {indexing_maps = [#id, #id, #id],
      iterator_types = ["parallel", "parallel"]}
      ins(%sq, %x : tensor<1x64xf32>, tensor<1x64xf32>)
      outs(%e : tensor<1x64xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.subf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<1x64xf32>
  %scaled = linalg.generic {indexing_maps = [#id, #id],
      iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<1x64xf32>) outs(%e : tensor<1x64xf32>) {
  ^bb0(%v: f32, %o: f32):
    %m = arith.addf %v, %v : f32
    linalg.yield %m : f32
  } -> tensor<1x64xf32>
  %ce = tensor.empty() : tensor<1x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%ce : tensor<1x8xf32>)
      -> tensor<1x8xf32>
  %mm = linalg.generic {indexing_maps = [#a, #b, #c],
      iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%scaled, %w : tensor<1x64xf32>, tensor<64x8xf32>)
      outs(%init : tensor<1x8xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x8xf32>
  return %plus, %minus, %mm : tensor<1x64xf32>, tensor<1x64xf32>, tensor<1x8xf32>
}
