// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops | FileCheck %s

// A tier of a runtime cache: the capacity, then one call filling fresh
// key/value/length buffers; pointers cross as i64.
// CHECK-LABEL: func.func @host_view
// CHECK: %[[CAP:.*]] = call @hgc_rt_compiled_view_tokens(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[TIER:.*]]) : (i64, i64, i64, i32, i32) -> i64
// CHECK: %[[KEYS:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x2x?x64xf16>
// CHECK: %[[VALUES:.*]] = memref.alloc(%{{.*}}, %{{.*}}) : memref<?x2x?x64xf16>
// CHECK: %[[LENGTHS:.*]] = memref.alloc(%{{.*}}) : memref<?xi32>
// CHECK: memref.extract_aligned_pointer_as_index %[[KEYS]]
// CHECK: call @hgc_rt_compiled_view(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[TIER]], %[[CAP]], %{{.*}}, %{{.*}}, %{{.*}}) : (i64, i64, i64, i32, i32, i64, i64, i64, i64) -> ()
// CHECK: func.func private @hgc_rt_compiled_view_tokens(i64, i64, i64, i32, i32) -> i64
// CHECK: func.func private @hgc_rt_compiled_view(i64, i64, i64, i32, i32, i64, i64, i64, i64)
func.func @host_view(%handle: i64, %seqs: tensor<?xi64>, %layer: i32) -> (tensor<?x2x?x64xf16>, tensor<?xi32>) {
  %kv = hgc.runtime_kv %handle[%seqs] layer %layer : tensor<?xi64> -> !hgc.kv_cache<2x64xf16>
  %k, %v, %n = hgc.kv_view %kv tier host {placement = #hgc.placement<sink = 4, window = 64, tiers = [device = dense, host = exact_topk(budget = 0.25)]>} : !hgc.kv_cache<2x64xf16> -> tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>
  return %k, %n : tensor<?x2x?x64xf16>, tensor<?xi32>
}

// -----

// A single-tier placement reads every token, whatever tier holds it (-1).
// CHECK-LABEL: func.func @every_tier
// CHECK: %[[ALL:.*]] = arith.constant -1 : i32
// CHECK: call @hgc_rt_compiled_view_tokens(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[ALL]])
// CHECK: call @hgc_rt_compiled_view(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[ALL]],
func.func @every_tier(%handle: i64, %seqs: tensor<?xi64>, %layer: i32) -> tensor<?x2x?x64xf32> {
  %kv = hgc.runtime_kv %handle[%seqs] layer %layer : tensor<?xi64> -> !hgc.kv_cache<2x64xf32>
  %k, %v, %n = hgc.kv_view %kv tier device {placement = #hgc.placement<sink = 0, window = 0, tiers = [device = dense]>} : !hgc.kv_cache<2x64xf32> -> tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?xi32>
  return %k : tensor<?x2x?x64xf32>
}

// -----

// Quest's summaries of a runtime tier: from the gathered keys, per block.
// CHECK-LABEL: func.func @summaries
// CHECK: call @hgc_rt_compiled_view(
// CHECK: arith.ceildivui %{{.*}}, %c16
// CHECK: scf.parallel
// CHECK: arith.minimumf
// CHECK: arith.maximumf
func.func @summaries(%handle: i64, %seqs: tensor<?xi64>, %layer: i32) -> (tensor<?x2x?x64xf16>, tensor<?xi32>) {
  %kv = hgc.runtime_kv %handle[%seqs] layer %layer : tensor<?xi64> -> !hgc.kv_cache<2x64xf16>
  %min, %max, %blocks = hgc.kv_summaries %kv tier host {block_size = 16 : i64, placement = #hgc.placement<sink = 4, window = 64, tiers = [device = dense, host = block_topk(budget = 0.25, block = 16)]>} : !hgc.kv_cache<2x64xf16> -> tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>
  return %min, %blocks : tensor<?x2x?x64xf16>, tensor<?xi32>
}


// -----

// Each tier reads the runtime's tier of its number: cxl is the far tier (2),
// storage 3.
// CHECK-LABEL: func.func @far_and_storage
// CHECK: %[[FAR:.*]] = arith.constant 2 : i32
// CHECK: call @hgc_rt_compiled_view_tokens(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[FAR]])
// CHECK: %[[STORAGE:.*]] = arith.constant 3 : i32
// CHECK: call @hgc_rt_compiled_view_tokens(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[STORAGE]])
func.func @far_and_storage(%handle: i64, %seqs: tensor<?xi64>, %layer: i32) -> (tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>) {
  %kv = hgc.runtime_kv %handle[%seqs] layer %layer : tensor<?xi64> -> !hgc.kv_cache<2x64xf16>
  %k, %v, %n = hgc.kv_view %kv tier cxl {placement = #hgc.placement<sink = 4, window = 64, tiers = [device = dense, host = dense(capacity = 128), cxl = dense(capacity = 256), storage = dense]>} : !hgc.kv_cache<2x64xf16> -> tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>
  %k2, %v2, %n2 = hgc.kv_view %kv tier storage {placement = #hgc.placement<sink = 4, window = 64, tiers = [device = dense, host = dense(capacity = 128), cxl = dense(capacity = 256), storage = dense]>} : !hgc.kv_cache<2x64xf16> -> tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>
  return %k, %k2 : tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>
}
