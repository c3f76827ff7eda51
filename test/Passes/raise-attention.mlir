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
