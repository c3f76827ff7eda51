// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops -canonicalize -cse | FileCheck %s

// One tier over paged KV: the view is never materialized; the partial reads
// the blocks through the table in place, one table read per 16 positions
// (block = position >> 4, first slot = position & 15, then consecutive
// slots). Token-major (NHD) blocks: each task takes every KV head in turn
// within a block (a loop over the 2 heads inside the block loop).
// CHECK-LABEL: func.func @paged_one_tier
// CHECK-SAME: %[[KC:[a-z0-9]+]]: tensor<?x16x2x64xf16>
// CHECK-NOT: hgc.kv_view
// CHECK-NOT: memref.alloc({{.*}}) : memref<?x2x?x64xf16>
// CHECK: %[[CACHE:.+]] = bufferization.to_buffer %[[KC]]
// CHECK: scf.for %{{.+}} = %c0 to %c2 step %c1
// CHECK: %[[BLOCK:.+]] = arith.shrui %{{.+}}, %c4 : index
// CHECK: %[[FIRST:.+]] = arith.andi %{{.+}}, %c15 : index
// CHECK: %[[ID:.+]] = tensor.extract %{{.+}}[%{{.+}}, %[[BLOCK]]] : tensor<?x?xi32>
// CHECK: %[[ROW:.+]] = arith.index_cast %[[ID]] : i32 to index
// CHECK: %[[SLOT:.+]] = arith.addi %[[FIRST]], %{{.+}} : index
// CHECK: vector.load %[[CACHE]][%[[ROW]], %[[SLOT]], %{{.+}}, %c0]
func.func @paged_one_tier(%q: tensor<?x8x64xf32>, %kc: tensor<?x16x2x64xf16>,
    %t: tensor<?x?xi32>, %n: tensor<?xi32>) -> tensor<?x8x64xf32> {
  %c = hgc.bind_kv %kc, %kc lengths(%n : tensor<?xi32>) block_table(%t : tensor<?x?xi32>)
      : tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16> -> !hgc.kv_cache<2x64xf16>
  %k, %v, %l = hgc.kv_view %c tier device
      {placement = #hgc.placement<tiers = [device = dense]>}
      : !hgc.kv_cache<2x64xf16> -> tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>
  %o, %lse = hgc.partial_attention %q, %k, %v lengths(%l)
      : (tensor<?x8x64xf32>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>)
      -> (tensor<?x8x64xf32>, tensor<?x8xf32>)
  return %o : tensor<?x8x64xf32>
}

// -----

// Heads-major blocks: the head index comes before the slot; a task per
// KV head, as for bound buffers.
// CHECK-LABEL: func.func @paged_heads_major
// CHECK-SAME: %[[KC:[a-z0-9]+]]: tensor<?x2x32x64xf16>
// CHECK: %[[CACHE:.+]] = bufferization.to_buffer %[[KC]]
// CHECK: %[[FIRST:.+]] = arith.andi %{{.+}}, %c31 : index
// CHECK: %[[ID:.+]] = tensor.extract
// CHECK: %[[ROW:.+]] = arith.index_cast %[[ID]] : i32 to index
// CHECK: %[[SLOT:.+]] = arith.addi %[[FIRST]], %{{.+}} : index
// CHECK: vector.load %[[CACHE]][%[[ROW]], %{{.+}}, %[[SLOT]], %c0]
func.func @paged_heads_major(%q: tensor<?x8x64xf32>, %kc: tensor<?x2x32x64xf16>,
    %t: tensor<?x?xi32>, %n: tensor<?xi32>) -> tensor<?x8x64xf32> {
  %c = hgc.bind_kv %kc, %kc lengths(%n : tensor<?xi32>) block_table(%t : tensor<?x?xi32>)
      {kv_layout = "hnd"}
      : tensor<?x2x32x64xf16>, tensor<?x2x32x64xf16> -> !hgc.kv_cache<2x64xf16>
  %k, %v, %l = hgc.kv_view %c tier device
      {placement = #hgc.placement<tiers = [device = dense]>}
      : !hgc.kv_cache<2x64xf16> -> tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>
  %o, %lse = hgc.partial_attention %q, %k, %v lengths(%l)
      : (tensor<?x8x64xf32>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>)
      -> (tensor<?x8x64xf32>, tensor<?x8xf32>)
  return %o : tensor<?x8x64xf32>
}

// -----

// Two tiers: the device tier (sinks and window, few tokens) is gathered
// into fresh buffers; the host tier's exact selection and sparse partial
// read the blocks in place from position 4 (the sinks) on. Selection over
// token-major blocks scores every KV head first (ordered keys [batch,
// kv_heads, candidates], allocated after the indices), then selects per
// head from its row.
// CHECK-LABEL: func.func @paged_two_tiers
// CHECK-COUNT-2: memref.alloc({{.*}}) : memref<?x2x?x64xf16>
// CHECK-NOT: memref.alloc({{.*}}) : memref<?x2x?x64xf16>
// CHECK: memref.alloc({{.*}}) : memref<?x2x?xi32>
// CHECK: %[[SCORES:.+]] = memref.alloc({{.*}}) : memref<?x2x?xi32>
// CHECK: arith.addi %{{.+}}, %c4 : index
// CHECK: memref.subview %[[SCORES]][%{{.+}}, %{{.+}}, 0] [1, 1, %{{.+}}] [1, 1, 1]
// CHECK-NOT: hgc.kv_view
// CHECK: return
func.func @paged_two_tiers(%q: tensor<?x8x64xf32>, %kc: tensor<?x16x2x64xf16>,
    %t: tensor<?x?xi32>, %n: tensor<?xi32>) -> (tensor<?x8x64xf32>, tensor<?x8x64xf32>) {
  %c = hgc.bind_kv %kc, %kc lengths(%n : tensor<?xi32>) block_table(%t : tensor<?x?xi32>)
      : tensor<?x16x2x64xf16>, tensor<?x16x2x64xf16> -> !hgc.kv_cache<2x64xf16>
  %dk, %dv, %dl = hgc.kv_view %c tier device
      {placement = #hgc.placement<sink = 4, window = 16, tiers = [device = dense, host = exact_topk(budget = 0.25)]>}
      : !hgc.kv_cache<2x64xf16> -> tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>
  %o, %lse = hgc.partial_attention %q, %dk, %dv lengths(%dl)
      : (tensor<?x8x64xf32>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>)
      -> (tensor<?x8x64xf32>, tensor<?x8xf32>)
  %hk, %hv, %hl = hgc.kv_view %c tier host
      {placement = #hgc.placement<sink = 4, window = 16, tiers = [device = dense, host = exact_topk(budget = 0.25)]>}
      : !hgc.kv_cache<2x64xf16> -> tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>
  %idx = hgc.select exact_topk %q, %hk lengths(%hl) {fraction = 2.500000e-01 : f64}
      : (tensor<?x8x64xf32>, tensor<?x2x?x64xf16>, tensor<?xi32>) -> tensor<?x2x?xi32>
  %ho, %hlse = hgc.partial_attention %q, %hk, %hv indices(%idx) lengths(%hl)
      : (tensor<?x8x64xf32>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?xi32>, tensor<?xi32>)
      -> (tensor<?x8x64xf32>, tensor<?x8xf32>)
  return %o, %ho : tensor<?x8x64xf32>, tensor<?x8x64xf32>
}
