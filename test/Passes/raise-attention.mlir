// RUN: hgc-opt %s -split-input-file -hgc-raise-attention | FileCheck %s

#q = affine_map<(b, h, s, t, d) -> (b, h, s, d)>
#kt = affine_map<(b, h, s, t, d) -> (b, h, d, t)>
#scores = affine_map<(b, h, s, t, d) -> (b, h, s, t)>
#p = affine_map<(b, h, s, d, t) -> (b, h, s, t)>
#v = affine_map<(b, h, s, d, t) -> (b, h, t, d)>
#y = affine_map<(b, h, s, d, t) -> (b, h, s, d)>

// Exporter form: Transpose(K), MatMul, Mul by a constant, Add mask, Softmax,
// MatMul -- as linalg.contract with a transposed K.
// CHECK-LABEL: func.func @scaled_masked
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<2x4x3x16xf32>, %[[K:[a-z0-9]+]]: tensor<2x4x7x16xf32>, %[[V:[a-z0-9]+]]: tensor<2x4x7x16xf32>, %[[M:[a-z0-9]+]]: tensor<2x4x3x7xf32>)
// CHECK: %[[Y:.+]] = hgc.attention %[[Q]], %[[K]], %[[V]] mask(%[[M]] : tensor<2x4x3x7xf32>) {scale = 2.500000e-01 : f32}
// CHECK-NOT: linalg.softmax
// CHECK: return %[[Y]]
func.func @scaled_masked(%q: tensor<2x4x3x16xf32>, %k: tensor<2x4x7x16xf32>,
    %v: tensor<2x4x7x16xf32>, %mask: tensor<2x4x3x7xf32>) -> tensor<2x4x3x16xf32> {
  %zero = arith.constant 0.0 : f32
  %kt0 = tensor.empty() : tensor<2x4x16x7xf32>
  %kt = linalg.transpose ins(%k : tensor<2x4x7x16xf32>) outs(%kt0 : tensor<2x4x16x7xf32>) permutation = [0, 1, 3, 2]
  %s0 = tensor.empty() : tensor<2x4x3x7xf32>
  %s1 = linalg.fill ins(%zero : f32) outs(%s0 : tensor<2x4x3x7xf32>) -> tensor<2x4x3x7xf32>
  %s = linalg.contract indexing_maps = [#q, #kt, #scores]
      ins(%q, %kt : tensor<2x4x3x16xf32>, tensor<2x4x16x7xf32>)
      outs(%s1 : tensor<2x4x3x7xf32>) -> tensor<2x4x3x7xf32>
  %c = arith.constant dense<0.25> : tensor<2x4x3x7xf32>
  %scaled = arith.mulf %s, %c : tensor<2x4x3x7xf32>
  %masked = arith.addf %scaled, %mask : tensor<2x4x3x7xf32>
  %p0 = tensor.empty() : tensor<2x4x3x7xf32>
  %p = linalg.softmax dimension(3) ins(%masked : tensor<2x4x3x7xf32>) outs(%p0 : tensor<2x4x3x7xf32>) -> tensor<2x4x3x7xf32>
  %y0 = tensor.empty() : tensor<2x4x3x16xf32>
  %y1 = linalg.fill ins(%zero : f32) outs(%y0 : tensor<2x4x3x16xf32>) -> tensor<2x4x3x16xf32>
  %y = linalg.contract indexing_maps = [#p, #v, #y]
      ins(%p, %v : tensor<2x4x3x7xf32>, tensor<2x4x7x16xf32>)
      outs(%y1 : tensor<2x4x3x16xf32>) -> tensor<2x4x3x16xf32>
  return %y : tensor<2x4x3x16xf32>
}

// -----

#q = affine_map<(b, h, s, t, d) -> (b, h, s, d)>
#k = affine_map<(b, h, s, t, d) -> (b, h, t, d)>
#scores = affine_map<(b, h, s, t, d) -> (b, h, s, t)>
#p = affine_map<(b, h, s, d, t) -> (b, h, s, t)>
#v = affine_map<(b, h, s, d, t) -> (b, h, t, d)>
#y = affine_map<(b, h, s, d, t) -> (b, h, s, d)>

// GQA the ONNX way: KV heads repeated by broadcast + collapse; K consumed
// directly by a generic contraction; division by sqrt(d).
// CHECK-LABEL: func.func @grouped_generic
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x8x2x32xf16>, %[[K:[a-z0-9]+]]: tensor<1x2x5x32xf16>, %[[V:[a-z0-9]+]]: tensor<1x2x5x32xf16>)
// CHECK: hgc.attention %[[Q]], %[[K]], %[[V]] {scale = 1.250000e-01 : f32}
// CHECK-SAME: tensor<1x8x2x32xf16>, tensor<1x2x5x32xf16>, tensor<1x2x5x32xf16> -> tensor<1x8x2x32xf16>
func.func @grouped_generic(%q: tensor<1x8x2x32xf16>, %k: tensor<1x2x5x32xf16>,
    %v: tensor<1x2x5x32xf16>) -> tensor<1x8x2x32xf16> {
  %zero = arith.constant 0.0 : f16
  %eight = arith.constant 8.0 : f16
  %kb0 = tensor.empty() : tensor<1x2x4x5x32xf16>
  %kb = linalg.broadcast ins(%k : tensor<1x2x5x32xf16>) outs(%kb0 : tensor<1x2x4x5x32xf16>) dimensions = [2]
  %kr = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x2x4x5x32xf16> into tensor<1x8x5x32xf16>
  %vb0 = tensor.empty() : tensor<1x2x4x5x32xf16>
  %vb = linalg.broadcast ins(%v : tensor<1x2x5x32xf16>) outs(%vb0 : tensor<1x2x4x5x32xf16>) dimensions = [2]
  %vr = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x2x4x5x32xf16> into tensor<1x8x5x32xf16>
  %s0 = tensor.empty() : tensor<1x8x2x5xf16>
  %s1 = linalg.fill ins(%zero : f16) outs(%s0 : tensor<1x8x2x5xf16>) -> tensor<1x8x2x5xf16>
  %s = linalg.generic {indexing_maps = [#q, #k, #scores],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %kr : tensor<1x8x2x32xf16>, tensor<1x8x5x32xf16>) outs(%s1 : tensor<1x8x2x5xf16>) {
  ^bb0(%a: f16, %b: f16, %acc: f16):
    %m = arith.mulf %a, %b : f16
    %r = arith.addf %acc, %m : f16
    linalg.yield %r : f16
  } -> tensor<1x8x2x5xf16>
  %d0 = tensor.empty() : tensor<1x8x2x5xf16>
  %d1 = linalg.fill ins(%eight : f16) outs(%d0 : tensor<1x8x2x5xf16>) -> tensor<1x8x2x5xf16>
  %scaled0 = tensor.empty() : tensor<1x8x2x5xf16>
  %scaled = linalg.div ins(%s, %d1 : tensor<1x8x2x5xf16>, tensor<1x8x2x5xf16>) outs(%scaled0 : tensor<1x8x2x5xf16>) -> tensor<1x8x2x5xf16>
  %p0 = tensor.empty() : tensor<1x8x2x5xf16>
  %p = linalg.softmax dimension(3) ins(%scaled : tensor<1x8x2x5xf16>) outs(%p0 : tensor<1x8x2x5xf16>) -> tensor<1x8x2x5xf16>
  %y0 = tensor.empty() : tensor<1x8x2x32xf16>
  %y1 = linalg.fill ins(%zero : f16) outs(%y0 : tensor<1x8x2x32xf16>) -> tensor<1x8x2x32xf16>
  %y = linalg.contract indexing_maps = [#p, #v, #y]
      ins(%p, %vr : tensor<1x8x2x5xf16>, tensor<1x8x5x32xf16>)
      outs(%y1 : tensor<1x8x2x32xf16>) -> tensor<1x8x2x32xf16>
  return %y : tensor<1x8x2x32xf16>
}

// -----

#p = affine_map<(b, h, s, d, t) -> (b, h, s, t)>
#v = affine_map<(b, h, s, d, t) -> (b, h, t, d)>
#y = affine_map<(b, h, s, d, t) -> (b, h, s, d)>

// Not attention: the softmax input is no Q x K^T contraction, or the
// probabilities are also returned. Both stay as they are.
// CHECK-LABEL: func.func @not_attention
// CHECK-NOT: hgc.attention
// CHECK-COUNT-2: linalg.softmax
func.func @not_attention(%x: tensor<1x2x3x4xf32>, %v: tensor<1x2x4x8xf32>)
    -> (tensor<1x2x3x8xf32>, tensor<1x2x3x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %p0 = tensor.empty() : tensor<1x2x3x4xf32>
  %p = linalg.softmax dimension(3) ins(%x : tensor<1x2x3x4xf32>) outs(%p0 : tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  %y0 = tensor.empty() : tensor<1x2x3x8xf32>
  %y1 = linalg.fill ins(%zero : f32) outs(%y0 : tensor<1x2x3x8xf32>) -> tensor<1x2x3x8xf32>
  %y = linalg.contract indexing_maps = [#p, #v, #y]
      ins(%p, %v : tensor<1x2x3x4xf32>, tensor<1x2x4x8xf32>)
      outs(%y1 : tensor<1x2x3x8xf32>) -> tensor<1x2x3x8xf32>
  %p2 = linalg.softmax dimension(3) ins(%x : tensor<1x2x3x4xf32>) outs(%p0 : tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %y, %p2 : tensor<1x2x3x8xf32>, tensor<1x2x3x4xf32>
}

// -----

// As the ONNX importer writes an exporter's attention (after canonicalize):
// Q and K^T each scaled by sqrt(scale) through a broadcast 1-element
// constant, K^T from linalg.transpose, a right-aligned [Sq, T] bias.
// CHECK-LABEL: func.func @onnx_expanded
// CHECK-SAME: (%[[Q:.*]]: tensor<2x3x4x8xf32>, %[[K:.*]]: tensor<2x3x6x8xf32>, %[[V:.*]]: tensor<2x3x6x8xf32>, %[[M:.*]]: tensor<4x6xf32>)
// CHECK: %[[Y:.*]] = hgc.attention %[[Q]], %[[K]], %[[V]] mask(%[[M]] : tensor<4x6xf32>) {scale = 0.353553{{[0-9]*}} : f32}
// CHECK-NOT: linalg.softmax
// CHECK: return %[[Y]]
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#one = affine_map<(d0, d1, d2, d3) -> (0)>
#bias = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#qk_q = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#qk_k = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
#qk_o = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
func.func @onnx_expanded(%q: tensor<2x3x4x8xf32>, %k: tensor<2x3x6x8xf32>,
                         %v: tensor<2x3x6x8xf32>, %m: tensor<4x6xf32>)
    -> tensor<2x3x4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %root = arith.constant dense<0.594603539> : tensor<1xf32>
  %kt_init = tensor.empty() : tensor<2x3x8x6xf32>
  %kt = linalg.transpose ins(%k : tensor<2x3x6x8xf32>) outs(%kt_init : tensor<2x3x8x6xf32>) permutation = [0, 1, 3, 2]
  %q_init = tensor.empty() : tensor<2x3x4x8xf32>
  %qs = linalg.generic {indexing_maps = [#id, #one, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%q, %root : tensor<2x3x4x8xf32>, tensor<1xf32>) outs(%q_init : tensor<2x3x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<2x3x4x8xf32>
  %kts = linalg.generic {indexing_maps = [#id, #one, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%kt, %root : tensor<2x3x8x6xf32>, tensor<1xf32>) outs(%kt_init : tensor<2x3x8x6xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<2x3x8x6xf32>
  %s_init = tensor.empty() : tensor<2x3x4x6xf32>
  %s_zero = linalg.fill ins(%zero : f32) outs(%s_init : tensor<2x3x4x6xf32>) -> tensor<2x3x4x6xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%qs, %kts : tensor<2x3x4x8xf32>, tensor<2x3x8x6xf32>) outs(%s_zero : tensor<2x3x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %o, %p : f32
    linalg.yield %r : f32
  } -> tensor<2x3x4x6xf32>
  %sm = linalg.generic {indexing_maps = [#id, #bias, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s, %m : tensor<2x3x4x6xf32>, tensor<4x6xf32>) outs(%s_init : tensor<2x3x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.addf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<2x3x4x6xf32>
  %p = linalg.softmax dimension(3) ins(%sm : tensor<2x3x4x6xf32>) outs(%s_init : tensor<2x3x4x6xf32>) -> tensor<2x3x4x6xf32>
  %y_zero = linalg.fill ins(%zero : f32) outs(%q_init : tensor<2x3x4x8xf32>) -> tensor<2x3x4x8xf32>
  %y = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<2x3x4x6xf32>, tensor<2x3x6x8xf32>) outs(%y_zero : tensor<2x3x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %t = arith.mulf %a, %b : f32
    %r = arith.addf %o, %t : f32
    linalg.yield %r : f32
  } -> tensor<2x3x4x8xf32>
  return %y : tensor<2x3x4x8xf32>
}

// -----

// A bias read through a map that is not numpy broadcasting ([B, Sq, T]
// indexed by batch, query, key: it skips the head axis) is not a mask
// hgc.attention can express: nothing is raised.
// CHECK-LABEL: func.func @bias_not_right_aligned
// CHECK-NOT: hgc.attention
// CHECK: linalg.softmax
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#skip_heads = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
#qk_q = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#qk_k = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
#qk_o = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#pv_v = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
func.func @bias_not_right_aligned(%q: tensor<2x3x4x8xf32>, %k: tensor<2x3x6x8xf32>,
                                  %v: tensor<2x3x6x8xf32>, %m: tensor<2x4x6xf32>)
    -> tensor<2x3x4x8xf32> {
  %zero = arith.constant 0.0 : f32
  %s_init = tensor.empty() : tensor<2x3x4x6xf32>
  %s_zero = linalg.fill ins(%zero : f32) outs(%s_init : tensor<2x3x4x6xf32>) -> tensor<2x3x4x6xf32>
  %s = linalg.generic {indexing_maps = [#qk_q, #qk_k, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x3x4x8xf32>, tensor<2x3x6x8xf32>) outs(%s_zero : tensor<2x3x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %o, %p : f32
    linalg.yield %r : f32
  } -> tensor<2x3x4x6xf32>
  %sm = linalg.generic {indexing_maps = [#id, #skip_heads, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s, %m : tensor<2x3x4x6xf32>, tensor<2x4x6xf32>) outs(%s_init : tensor<2x3x4x6xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.addf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<2x3x4x6xf32>
  %p = linalg.softmax dimension(3) ins(%sm : tensor<2x3x4x6xf32>) outs(%s_init : tensor<2x3x4x6xf32>) -> tensor<2x3x4x6xf32>
  %y_init = tensor.empty() : tensor<2x3x4x8xf32>
  %y_zero = linalg.fill ins(%zero : f32) outs(%y_init : tensor<2x3x4x8xf32>) -> tensor<2x3x4x8xf32>
  %y = linalg.generic {indexing_maps = [#qk_q, #pv_v, #qk_o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<2x3x4x6xf32>, tensor<2x3x6x8xf32>) outs(%y_zero : tensor<2x3x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %t = arith.mulf %a, %b : f32
    %r = arith.addf %o, %t : f32
    linalg.yield %r : f32
  } -> tensor<2x3x4x8xf32>
  return %y : tensor<2x3x4x8xf32>
}

// -----

#q = affine_map<(b, h, s, t, d) -> (b, h, s, d)>
#kt = affine_map<(b, h, s, t, d) -> (b, h, d, t)>
#scores = affine_map<(b, h, s, t, d) -> (b, h, s, t)>
#p = affine_map<(b, h, s, d, t) -> (b, h, s, t)>
#v = affine_map<(b, h, s, d, t) -> (b, h, t, d)>
#y = affine_map<(b, h, s, d, t) -> (b, h, s, d)>
#id = affine_map<(b, h, s, t) -> (b, h, s, t)>
#zero = affine_map<(b, h, s, t) -> ()>

// torch's dynamo exporter: K^T as Reshape [b*h, t, d] -> Transpose [0, 2, 1]
// -> Reshape [b, h, d, t] of the repeated KV heads, and softmax's NaN guard
// where(isnan(p), 0, p) before P x V. The guard folds in (hgc.attention
// gives fully masked rows 0); the repeat is seen through (2 KV heads).
// CHECK-LABEL: func.func @torch_dynamo_form
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x4x1x16xf32>, %[[K:[a-z0-9]+]]: tensor<1x2x7x16xf32>, %[[V:[a-z0-9]+]]: tensor<1x2x7x16xf32>)
// CHECK: %[[Y:.+]] = hgc.attention %[[Q]], %[[K]], %[[V]] {scale = 2.500000e-01 : f32}
// CHECK-SAME: tensor<1x4x1x16xf32>, tensor<1x2x7x16xf32>, tensor<1x2x7x16xf32> -> tensor<1x4x1x16xf32>
// CHECK-NOT: linalg.softmax
// CHECK-NOT: arith.cmpf
// CHECK: return %[[Y]]
func.func @torch_dynamo_form(%q: tensor<1x4x1x16xf32>, %k: tensor<1x2x7x16xf32>,
    %v: tensor<1x2x7x16xf32>) -> tensor<1x4x1x16xf32> {
  %zero = arith.constant 0.0 : f32
  %zeros = arith.constant dense<0.0> : tensor<f32>
  %kb0 = tensor.empty() : tensor<1x2x2x7x16xf32>
  %kb = linalg.broadcast ins(%k : tensor<1x2x7x16xf32>) outs(%kb0 : tensor<1x2x2x7x16xf32>) dimensions = [2]
  %kflat = tensor.collapse_shape %kb [[0, 1, 2], [3], [4]] : tensor<1x2x2x7x16xf32> into tensor<4x7x16xf32>
  %kt0 = tensor.empty() : tensor<4x16x7xf32>
  %kt3 = linalg.transpose ins(%kflat : tensor<4x7x16xf32>) outs(%kt0 : tensor<4x16x7xf32>) permutation = [0, 2, 1]
  %kt = tensor.expand_shape %kt3 [[0, 1], [2], [3]] output_shape [1, 4, 16, 7] : tensor<4x16x7xf32> into tensor<1x4x16x7xf32>
  %vb0 = tensor.empty() : tensor<1x2x2x7x16xf32>
  %vb = linalg.broadcast ins(%v : tensor<1x2x7x16xf32>) outs(%vb0 : tensor<1x2x2x7x16xf32>) dimensions = [2]
  %vr = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x2x2x7x16xf32> into tensor<1x4x7x16xf32>
  %s0 = tensor.empty() : tensor<1x4x1x7xf32>
  %s1 = linalg.fill ins(%zero : f32) outs(%s0 : tensor<1x4x1x7xf32>) -> tensor<1x4x1x7xf32>
  %s = linalg.contract indexing_maps = [#q, #kt, #scores]
      ins(%q, %kt : tensor<1x4x1x16xf32>, tensor<1x4x16x7xf32>)
      outs(%s1 : tensor<1x4x1x7xf32>) -> tensor<1x4x1x7xf32>
  %c = arith.constant dense<0.25> : tensor<1x4x1x7xf32>
  %scaled = arith.mulf %s, %c : tensor<1x4x1x7xf32>
  %p0 = tensor.empty() : tensor<1x4x1x7xf32>
  %p = linalg.softmax dimension(3) ins(%scaled : tensor<1x4x1x7xf32>) outs(%p0 : tensor<1x4x1x7xf32>) -> tensor<1x4x1x7xf32>
  %n0 = tensor.empty() : tensor<1x4x1x7xi1>
  %nan = linalg.generic {indexing_maps = [#id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%p : tensor<1x4x1x7xf32>) outs(%n0 : tensor<1x4x1x7xi1>) {
  ^bb0(%x: f32, %o: i1):
    %u = arith.cmpf uno, %x, %x : f32
    linalg.yield %u : i1
  } -> tensor<1x4x1x7xi1>
  %g = linalg.generic {indexing_maps = [#id, #zero, #id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%nan, %zeros, %p : tensor<1x4x1x7xi1>, tensor<f32>, tensor<1x4x1x7xf32>)
      outs(%p0 : tensor<1x4x1x7xf32>) {
  ^bb0(%isnan: i1, %z: f32, %x: f32, %o: f32):
    %r = arith.select %isnan, %z, %x : f32
    linalg.yield %r : f32
  } -> tensor<1x4x1x7xf32>
  %y0 = tensor.empty() : tensor<1x4x1x16xf32>
  %y1 = linalg.fill ins(%zero : f32) outs(%y0 : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  %y = linalg.contract indexing_maps = [#p, #v, #y]
      ins(%g, %vr : tensor<1x4x1x7xf32>, tensor<1x4x7x16xf32>)
      outs(%y1 : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %y : tensor<1x4x1x16xf32>
}

// -----

#q = affine_map<(b, h, s, t, d) -> (b, h, s, d)>
#kt = affine_map<(b, h, s, t, d) -> (b, h, d, t)>
#scores = affine_map<(b, h, s, t, d) -> (b, h, s, t)>
#p = affine_map<(b, h, s, d, t) -> (b, h, s, t)>
#v = affine_map<(b, h, s, d, t) -> (b, h, t, d)>
#y = affine_map<(b, h, s, d, t) -> (b, h, s, d)>
#id = affine_map<(b, h, s, t) -> (b, h, s, t)>

// A guard that replaces NaN by something other than 0 changes the result:
// the softmax stays.
// CHECK-LABEL: func.func @nan_guard_not_zero
// CHECK: linalg.softmax
// CHECK-NOT: hgc.attention
func.func @nan_guard_not_zero(%q: tensor<1x4x1x16xf32>, %kt: tensor<1x4x16x7xf32>,
    %v: tensor<1x4x7x16xf32>) -> tensor<1x4x1x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ones = arith.constant dense<1.0> : tensor<1x4x1x7xf32>
  %s0 = tensor.empty() : tensor<1x4x1x7xf32>
  %s1 = linalg.fill ins(%zero : f32) outs(%s0 : tensor<1x4x1x7xf32>) -> tensor<1x4x1x7xf32>
  %s = linalg.contract indexing_maps = [#q, #kt, #scores]
      ins(%q, %kt : tensor<1x4x1x16xf32>, tensor<1x4x16x7xf32>)
      outs(%s1 : tensor<1x4x1x7xf32>) -> tensor<1x4x1x7xf32>
  %p0 = tensor.empty() : tensor<1x4x1x7xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x4x1x7xf32>) outs(%p0 : tensor<1x4x1x7xf32>) -> tensor<1x4x1x7xf32>
  %n0 = tensor.empty() : tensor<1x4x1x7xi1>
  %nan = linalg.generic {indexing_maps = [#id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%p : tensor<1x4x1x7xf32>) outs(%n0 : tensor<1x4x1x7xi1>) {
  ^bb0(%x: f32, %o: i1):
    %u = arith.cmpf uno, %x, %x : f32
    linalg.yield %u : i1
  } -> tensor<1x4x1x7xi1>
  %g = linalg.generic {indexing_maps = [#id, #id, #id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%nan, %ones, %p : tensor<1x4x1x7xi1>, tensor<1x4x1x7xf32>, tensor<1x4x1x7xf32>)
      outs(%p0 : tensor<1x4x1x7xf32>) {
  ^bb0(%isnan: i1, %z: f32, %x: f32, %o: f32):
    %r = arith.select %isnan, %z, %x : f32
    linalg.yield %r : f32
  } -> tensor<1x4x1x7xf32>
  %y0 = tensor.empty() : tensor<1x4x1x16xf32>
  %y1 = linalg.fill ins(%zero : f32) outs(%y0 : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  %y = linalg.contract indexing_maps = [#p, #v, #y]
      ins(%g, %v : tensor<1x4x1x7xf32>, tensor<1x4x7x16xf32>)
      outs(%y1 : tensor<1x4x1x16xf32>) -> tensor<1x4x1x16xf32>
  return %y : tensor<1x4x1x16xf32>
}

// -----

#q = affine_map<(b, h, s, t, d) -> (b, h, s, d)>
#k = affine_map<(b, h, s, t, d) -> (b, h, t, d)>
#scores = affine_map<(b, h, s, t, d) -> (b, h, s, t)>
#p = affine_map<(b, h, s, d, t) -> (b, h, s, t)>
#v = affine_map<(b, h, s, d, t) -> (b, h, t, d)>
#y = affine_map<(b, h, s, d, t) -> (b, h, s, d)>
#id = affine_map<(b, h, s, t) -> (b, h, s, t)>

// Gemma-style soft cap between the contractions: scale, / cap, tanh, * cap.
// CHECK-LABEL: func.func @softcap
// CHECK: hgc.attention %{{.+}}, %{{.+}}, %{{.+}} {scale = 2.500000e-01 : f32, softcap = 5.000000e+01 : f32}
// CHECK-NOT: math.tanh
func.func @softcap(%q: tensor<1x2x1x16xf32>, %k: tensor<1x2x7x16xf32>,
    %v: tensor<1x2x7x16xf32>) -> tensor<1x2x1x16xf32> {
  %zero = arith.constant 0.0 : f32
  %quarter = arith.constant dense<0.25> : tensor<1x2x1x7xf32>
  %cap = arith.constant dense<50.0> : tensor<1x2x1x7xf32>
  %s0 = tensor.empty() : tensor<1x2x1x7xf32>
  %s1 = linalg.fill ins(%zero : f32) outs(%s0 : tensor<1x2x1x7xf32>) -> tensor<1x2x1x7xf32>
  %s = linalg.generic {indexing_maps = [#q, #k, #scores],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<1x2x1x16xf32>, tensor<1x2x7x16xf32>) outs(%s1 : tensor<1x2x1x7xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x7xf32>
  %scaled = arith.mulf %s, %quarter : tensor<1x2x1x7xf32>
  %x = linalg.generic {indexing_maps = [#id, #id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%scaled, %cap : tensor<1x2x1x7xf32>, tensor<1x2x1x7xf32>) outs(%s0 : tensor<1x2x1x7xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = arith.divf %a, %c : f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x7xf32>
  %t = linalg.generic {indexing_maps = [#id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<1x2x1x7xf32>) outs(%s0 : tensor<1x2x1x7xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.tanh %a : f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x7xf32>
  %capped = linalg.generic {indexing_maps = [#id, #id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%t, %cap : tensor<1x2x1x7xf32>, tensor<1x2x1x7xf32>) outs(%s0 : tensor<1x2x1x7xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = arith.mulf %a, %c : f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x7xf32>
  %p0 = tensor.empty() : tensor<1x2x1x7xf32>
  %p = linalg.softmax dimension(3) ins(%capped : tensor<1x2x1x7xf32>) outs(%p0 : tensor<1x2x1x7xf32>) -> tensor<1x2x1x7xf32>
  %y0 = tensor.empty() : tensor<1x2x1x16xf32>
  %y1 = linalg.fill ins(%zero : f32) outs(%y0 : tensor<1x2x1x16xf32>) -> tensor<1x2x1x16xf32>
  %y = linalg.contract indexing_maps = [#p, #v, #y]
      ins(%p, %v : tensor<1x2x1x7xf32>, tensor<1x2x7x16xf32>)
      outs(%y1 : tensor<1x2x1x16xf32>) -> tensor<1x2x1x16xf32>
  return %y : tensor<1x2x1x16xf32>
}

// -----

#q = affine_map<(b, h, s, t, d) -> (b, h, s, d)>
#k = affine_map<(b, h, s, t, d) -> (b, h, t, d)>
#scores = affine_map<(b, h, s, t, d) -> (b, h, s, t)>
#p = affine_map<(b, h, s, d, t) -> (b, h, s, t)>
#v = affine_map<(b, h, s, d, t) -> (b, h, t, d)>
#y = affine_map<(b, h, s, d, t) -> (b, h, s, d)>
#id = affine_map<(b, h, s, t) -> (b, h, s, t)>

// A scaling after the cap is not ONNX's softcap(scale * QK^T): left alone.
// CHECK-LABEL: func.func @scaled_after_softcap
// CHECK: math.tanh
// CHECK: linalg.softmax
// CHECK-NOT: hgc.attention
func.func @scaled_after_softcap(%q: tensor<1x2x1x16xf32>, %k: tensor<1x2x7x16xf32>,
    %v: tensor<1x2x7x16xf32>) -> tensor<1x2x1x16xf32> {
  %zero = arith.constant 0.0 : f32
  %two = arith.constant dense<2.0> : tensor<1x2x1x7xf32>
  %cap = arith.constant dense<50.0> : tensor<1x2x1x7xf32>
  %s0 = tensor.empty() : tensor<1x2x1x7xf32>
  %s1 = linalg.fill ins(%zero : f32) outs(%s0 : tensor<1x2x1x7xf32>) -> tensor<1x2x1x7xf32>
  %s = linalg.generic {indexing_maps = [#q, #k, #scores],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<1x2x1x16xf32>, tensor<1x2x7x16xf32>) outs(%s1 : tensor<1x2x1x7xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x7xf32>
  %x = linalg.generic {indexing_maps = [#id, #id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s, %cap : tensor<1x2x1x7xf32>, tensor<1x2x1x7xf32>) outs(%s0 : tensor<1x2x1x7xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = arith.divf %a, %c : f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x7xf32>
  %t = linalg.generic {indexing_maps = [#id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<1x2x1x7xf32>) outs(%s0 : tensor<1x2x1x7xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.tanh %a : f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x7xf32>
  %capped = linalg.generic {indexing_maps = [#id, #id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%t, %cap : tensor<1x2x1x7xf32>, tensor<1x2x1x7xf32>) outs(%s0 : tensor<1x2x1x7xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = arith.mulf %a, %c : f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x7xf32>
  %doubled = arith.mulf %capped, %two : tensor<1x2x1x7xf32>
  %p0 = tensor.empty() : tensor<1x2x1x7xf32>
  %p = linalg.softmax dimension(3) ins(%doubled : tensor<1x2x1x7xf32>) outs(%p0 : tensor<1x2x1x7xf32>) -> tensor<1x2x1x7xf32>
  %y0 = tensor.empty() : tensor<1x2x1x16xf32>
  %y1 = linalg.fill ins(%zero : f32) outs(%y0 : tensor<1x2x1x16xf32>) -> tensor<1x2x1x16xf32>
  %y = linalg.contract indexing_maps = [#p, #v, #y]
      ins(%p, %v : tensor<1x2x1x7xf32>, tensor<1x2x7x16xf32>)
      outs(%y1 : tensor<1x2x1x16xf32>) -> tensor<1x2x1x16xf32>
  return %y : tensor<1x2x1x16xf32>
}

// -----

#q = affine_map<(b, h, s, t, d) -> (b, h, s, d)>
#k = affine_map<(b, h, s, t, d) -> (b, h, t, d)>
#scores = affine_map<(b, h, s, t, d) -> (b, h, s, t)>
#p = affine_map<(b, h, s, d, t) -> (b, h, s, t)>
#v = affine_map<(b, h, s, d, t) -> (b, h, t, d)>
#y = affine_map<(b, h, s, d, t) -> (b, h, s, d)>
#id = affine_map<(b, h, s, t) -> (b, h, s, t)>
#mask = affine_map<(b, h, s, t) -> (0, 0, 0, t)>

// f16 attention as the importer writes an exporter's f16 graph: QK^T
// accumulated in f32 and rounded to f16, widened again for an f32 mask and
// softmax, V widened for P x V. Raised in f16 (scores stay f32 inside); the
// f32 mask narrowed to f16; the f16 output widened for the f32 users.
// CHECK-LABEL: func.func @f16_widened
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x2x1x16xf16>, %[[K:[a-z0-9]+]]: tensor<1x2x7x16xf16>, %[[V:[a-z0-9]+]]: tensor<1x2x7x16xf16>, %[[M:[a-z0-9]+]]: tensor<1x1x1x7xf32>)
// CHECK: %[[M16:.+]] = linalg.generic {{.+}} ins(%[[M]] : tensor<1x1x1x7xf32>)
// CHECK: arith.truncf
// CHECK: %[[A:.+]] = hgc.attention %[[Q]], %[[K]], %[[V]] mask(%[[M16]] : tensor<1x1x1x7xf16>)
// CHECK-SAME: -> tensor<1x2x1x16xf16>
// CHECK: %[[Y:.+]] = linalg.generic {{.+}} ins(%[[A]] : tensor<1x2x1x16xf16>)
// CHECK: arith.extf
// CHECK: return %[[Y]] : tensor<1x2x1x16xf32>
func.func @f16_widened(%q: tensor<1x2x1x16xf16>, %k: tensor<1x2x7x16xf16>,
    %v: tensor<1x2x7x16xf16>, %m: tensor<1x1x1x7xf32>) -> tensor<1x2x1x16xf32> {
  %zero = arith.constant 0.0 : f32
  %s0 = tensor.empty() : tensor<1x2x1x7xf32>
  %s1 = linalg.fill ins(%zero : f32) outs(%s0 : tensor<1x2x1x7xf32>) -> tensor<1x2x1x7xf32>
  %s = linalg.generic {indexing_maps = [#q, #k, #scores],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<1x2x1x16xf16>, tensor<1x2x7x16xf16>) outs(%s1 : tensor<1x2x1x7xf32>) {
  ^bb0(%a: f16, %b: f16, %acc: f32):
    %a32 = arith.extf %a : f16 to f32
    %b32 = arith.extf %b : f16 to f32
    %m32 = arith.mulf %a32, %b32 : f32
    %r = arith.addf %acc, %m32 : f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x7xf32>
  %h0 = tensor.empty() : tensor<1x2x1x7xf16>
  %s16 = linalg.generic {indexing_maps = [#id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x2x1x7xf32>) outs(%h0 : tensor<1x2x1x7xf16>) {
  ^bb0(%a: f32, %o: f16):
    %r = arith.truncf %a : f32 to f16
    linalg.yield %r : f16
  } -> tensor<1x2x1x7xf16>
  %s32 = linalg.generic {indexing_maps = [#id, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s16 : tensor<1x2x1x7xf16>) outs(%s0 : tensor<1x2x1x7xf32>) {
  ^bb0(%a: f16, %o: f32):
    %r = arith.extf %a : f16 to f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x7xf32>
  %masked = linalg.generic {indexing_maps = [#id, #mask, #id],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s32, %m : tensor<1x2x1x7xf32>, tensor<1x1x1x7xf32>) outs(%s0 : tensor<1x2x1x7xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x7xf32>
  %p0 = tensor.empty() : tensor<1x2x1x7xf32>
  %p = linalg.softmax dimension(3) ins(%masked : tensor<1x2x1x7xf32>) outs(%p0 : tensor<1x2x1x7xf32>) -> tensor<1x2x1x7xf32>
  %w0 = tensor.empty() : tensor<1x2x7x16xf32>
  %v32 = linalg.generic {indexing_maps = [affine_map<(b, h, t, d) -> (b, h, t, d)>, affine_map<(b, h, t, d) -> (b, h, t, d)>],
      iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%v : tensor<1x2x7x16xf16>) outs(%w0 : tensor<1x2x7x16xf32>) {
  ^bb0(%a: f16, %o: f32):
    %r = arith.extf %a : f16 to f32
    linalg.yield %r : f32
  } -> tensor<1x2x7x16xf32>
  %y0 = tensor.empty() : tensor<1x2x1x16xf32>
  %y1 = linalg.fill ins(%zero : f32) outs(%y0 : tensor<1x2x1x16xf32>) -> tensor<1x2x1x16xf32>
  %y = linalg.contract indexing_maps = [#p, #v, #y]
      ins(%p, %v32 : tensor<1x2x1x7xf32>, tensor<1x2x7x16xf32>)
      outs(%y1 : tensor<1x2x1x16xf32>) -> tensor<1x2x1x16xf32>
  return %y : tensor<1x2x1x16xf32>
}

// -----

#q = affine_map<(b, h, s, t, d) -> (b, h, s, d)>
#k = affine_map<(b, h, s, t, d) -> (b, h, t, d)>
#scores = affine_map<(b, h, s, t, d) -> (b, h, s, t)>
#p = affine_map<(b, h, s, d, t) -> (b, h, s, t)>
#v = affine_map<(b, h, s, d, t) -> (b, h, t, d)>
#y = affine_map<(b, h, s, d, t) -> (b, h, s, d)>

// V of another element type than Q and K: not attention hgc computes in one
// type. The pattern fails before it builds anything (no transpose of K left
// behind) and the pass succeeds with the graph as written.
// CHECK-LABEL: func.func @mixed_element_types
// CHECK-NOT: hgc.attention
// CHECK-NOT: linalg.transpose
// CHECK: linalg.softmax
func.func @mixed_element_types(%q: tensor<1x2x1x8xf32>, %k: tensor<1x2x5x8xf32>,
    %v: tensor<1x2x5x8xf16>) -> tensor<1x2x1x8xf32> {
  %zero = arith.constant 0.0 : f32
  %s0 = tensor.empty() : tensor<1x2x1x5xf32>
  %s1 = linalg.fill ins(%zero : f32) outs(%s0 : tensor<1x2x1x5xf32>) -> tensor<1x2x1x5xf32>
  %s = linalg.generic {indexing_maps = [#q, #k, #scores],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<1x2x1x8xf32>, tensor<1x2x5x8xf32>)
      outs(%s1 : tensor<1x2x1x5xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x1x5xf32>
  %p0 = tensor.empty() : tensor<1x2x1x5xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<1x2x1x5xf32>) outs(%p0 : tensor<1x2x1x5xf32>) -> tensor<1x2x1x5xf32>
  %y0 = tensor.empty() : tensor<1x2x1x8xf32>
  %y1 = linalg.fill ins(%zero : f32) outs(%y0 : tensor<1x2x1x8xf32>) -> tensor<1x2x1x8xf32>
  %y = linalg.contract indexing_maps = [#p, #v, #y]
      ins(%p, %v : tensor<1x2x1x5xf32>, tensor<1x2x5x8xf16>)
      outs(%y1 : tensor<1x2x1x8xf32>) -> tensor<1x2x1x8xf32>
  return %y : tensor<1x2x1x8xf32>
}
