// RUN: hgc-opt %s -split-input-file -hgc-hybrid-pipeline="policy=hgca sink=4 window=16 budget=0.25" -convert-hgc-to-loops="target=nvptx" | FileCheck %s

// Target nvptx: the device tier's dense partial becomes a call of a
// bodiless declaration over its buffers (scale and softcap on it), which
// bufferization and deallocation see as an ordinary call; the host tier's
// selection and sparse partial stay loops.

// CHECK-LABEL: func.func @hybrid_step
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1x8x64xf32>
// CHECK: %[[LSE:.*]] = memref.alloc() : memref<1x8xf32>
// CHECK: call @hgc_device_partial_0(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[OUT]], %[[LSE]]) : (memref<1x8x64xf16, strided<[?, ?, 1], offset: ?>>, memref<1x2x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1x2x?x64xf16, strided<[?, ?, ?, 1], offset: ?>>, memref<1xi32, strided<[1], offset: ?>>, memref<1x8x64xf32>, memref<1x8xf32>) -> ()
// CHECK: scf.parallel
// CHECK: func.func private @hgc_device_partial_0
// CHECK-SAME: attributes {hgc.device_partial, hgc.lengths, hgc.softcap = 0.000000e+00 : f32}
// CHECK-NOT: gpu.
func.func @hybrid_step(%q: tensor<1x8x1x64xf16>, %k: tensor<1x2x1x64xf16>,
    %v: tensor<1x2x1x64xf16>, %pk: tensor<1x2x99x64xf16>,
    %pv: tensor<1x2x99x64xf16>) -> tensor<1x8x1x64xf16> {
  %y = hgc.attention %q, %k, %v past(%pk, %pv : tensor<1x2x99x64xf16>, tensor<1x2x99x64xf16>)
      {is_causal = true}
      : tensor<1x8x1x64xf16>, tensor<1x2x1x64xf16>, tensor<1x2x1x64xf16> -> tensor<1x8x1x64xf16>
  return %y : tensor<1x8x1x64xf16>
}

// -----

// A dense partial over plain tensors (no device view) is host loops.
// CHECK-LABEL: func.func @plain_partial
// CHECK-NOT: call @hgc_device_partial
// CHECK: scf.parallel
func.func @plain_partial(%q: tensor<1x4x8xf32>, %k: tensor<1x2x5x8xf32>)
    -> tensor<1x4x8xf32> {
  %o, %l = hgc.partial_attention %q, %k, %k {scale = 0.5 : f32}
      : (tensor<1x4x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32>)
      -> (tensor<1x4x8xf32>, tensor<1x4xf32>)
  return %o : tensor<1x4x8xf32>
}

// -----

// Attention that stays dense (a prompt of 3 tokens with a mask) runs on the
// device too: host loops lay out a row per token, the causal lengths and the
// mask as a bias, then one device partial over them with the rows per
// sequence; the output rows are laid back out.
// CHECK-LABEL: func.func @prompt
// CHECK: %[[ROWS:.*]] = memref.alloc(%{{.*}}) : memref<?x4x8xf32>
// CHECK: %[[LENGTHS:.*]] = memref.alloc(%{{.*}}) : memref<?xi32>
// CHECK: %[[BIAS:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x?xf32>
// CHECK: call @hgc_device_partial_0(%[[ROWS]], %{{.*}}, %{{.*}}, %[[LENGTHS]], %[[BIAS]], %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?x4x8xf32>, {{.*}}, index) -> ()
// CHECK: func.func private @hgc_device_partial_0
// CHECK-SAME: hgc.bias, hgc.device_partial, hgc.lengths, hgc.rows_per_sequence
func.func @prompt(%q: tensor<2x4x3x8xf32>, %k: tensor<2x2x3x8xf32>,
    %m: tensor<2x1x3x3xf32>) -> tensor<2x4x3x8xf32> {
  %y = hgc.attention %q, %k, %k mask(%m : tensor<2x1x3x3xf32>) {is_causal = true}
      : tensor<2x4x3x8xf32>, tensor<2x2x3x8xf32>, tensor<2x2x3x8xf32> -> tensor<2x4x3x8xf32>
  return %y : tensor<2x4x3x8xf32>
}

// -----

// A mask that differs per head stays host loops.
// CHECK-LABEL: func.func @per_head_mask
// CHECK-NOT: call @hgc_device_partial
// CHECK: scf.parallel
func.func @per_head_mask(%q: tensor<1x4x3x8xf32>, %k: tensor<1x4x3x8xf32>,
    %m: tensor<1x4x3x3xf32>) -> tensor<1x4x3x8xf32> {
  %y = hgc.attention %q, %k, %k mask(%m : tensor<1x4x3x3xf32>)
      : tensor<1x4x3x8xf32>, tensor<1x4x3x8xf32>, tensor<1x4x3x8xf32> -> tensor<1x4x3x8xf32>
  return %y : tensor<1x4x3x8xf32>
}
