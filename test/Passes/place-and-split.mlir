// The two passes compose with the shared option vocabulary.
// RUN: hgc-opt %s -hgc-place-kv="policy=hgca sink=2 window=30 budget=16" -hgc-split-attention | FileCheck %s

// CHECK-LABEL: func.func @layer
// CHECK: hgc.kv_view %{{.+}} tier device
// CHECK: hgc.partial_attention
// CHECK: hgc.kv_view %{{.+}} tier host
// CHECK: hgc.select exact_topk {{.*}}{k = 16 : i64}
// CHECK: hgc.partial_attention
// CHECK: hgc.lse_merge
// CHECK-NOT: hgc.decode_attention
func.func @layer(%q: tensor<1x4x32xf32>, %c: !hgc.kv_cache<2x32xf16, max_tokens = 512>)
    -> tensor<1x4x32xf32> {
  %o = hgc.decode_attention %q, %c
      : tensor<1x4x32xf32>, !hgc.kv_cache<2x32xf16, max_tokens = 512> -> tensor<1x4x32xf32>
  return %o : tensor<1x4x32xf32>
}
