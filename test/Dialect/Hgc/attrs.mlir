// RUN: hgc-opt %s -split-input-file | hgc-opt -split-input-file | FileCheck %s
// RUN: hgc-opt %s -split-input-file -mlir-print-op-generic \
// RUN:   | hgc-opt -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @tiers_and_selections
// CHECK-SAME: s0 = #hgc.selection<dense>, s1 = #hgc.selection<exact_topk>, s2 = #hgc.selection<block_topk>, s3 = #hgc.selection<quant_topk>
// CHECK-SAME: t0 = #hgc.tier<device>, t1 = #hgc.tier<host>, t2 = #hgc.tier<cxl>, t3 = #hgc.tier<storage>
func.func @tiers_and_selections() attributes {
    t0 = #hgc.tier<device>, t1 = #hgc.tier<host>, t2 = #hgc.tier<cxl>,
    t3 = #hgc.tier<storage>, s0 = #hgc.selection<dense>,
    s1 = #hgc.selection<exact_topk>, s2 = #hgc.selection<block_topk>,
    s3 = #hgc.selection<quant_topk>} {
  return
}

// -----

// Integer budgets are token (or block) counts, float budgets fractions;
// block_topk defaults to blocks of 16, quant_topk to 8 bits.
// CHECK-LABEL: func.func @tier_policies
// CHECK-SAME: p0 = #hgc.tier_policy<device = dense>
// CHECK-SAME: p1 = #hgc.tier_policy<host = exact_topk(budget = 256)>
// CHECK-SAME: p2 = #hgc.tier_policy<host = exact_topk(budget = 0.05)>
// CHECK-SAME: p3 = #hgc.tier_policy<cxl = block_topk(budget = 64, block = 16)>
// CHECK-SAME: p4 = #hgc.tier_policy<host = block_topk(budget = 0.1, block = 32)>
// CHECK-SAME: p5 = #hgc.tier_policy<storage = quant_topk(budget = 512, bits = 8)>
// CHECK-SAME: p6 = #hgc.tier_policy<storage = quant_topk(budget = 1.0, bits = 4)>
// CHECK-SAME: p7 = #hgc.tier_policy<host = quant_topk(budget = 0.1, bits = 8, mass = 0.9)>
// CHECK-SAME: p8 = #hgc.tier_policy<host = exact_topk(budget = 64, mass = 0.5)>
// CHECK-SAME: p9 = #hgc.tier_policy<host = pq_topk(budget = 0.1, subspaces = 16, centroids = 256)>
// CHECK-SAME: p9a = #hgc.tier_policy<host = pq_topk(budget = 8, subspaces = 8, centroids = 1024, mass = 0.9)>
// CHECK-SAME: q1 = #hgc.tier_policy<storage = channel_topk(budget = 0.05, channels = 32)>
// CHECK-SAME: q2 = #hgc.tier_policy<host = channel_topk(budget = 64, channels = 8, capacity = 4096)>
// CHECK-SAME: q3 = #hgc.tier_policy<cxl = dense(capacity = 128)>
// CHECK-SAME: q4 = #hgc.tier_policy<host = block_topk(budget = 8, block = 16, tail = summary)>
// CHECK-SAME: q5 = #hgc.tier_policy<host = exact_topk(budget = 0.05)>
func.func @tier_policies() attributes {
    p0 = #hgc.tier_policy<device = dense>,
    p1 = #hgc.tier_policy<host = exact_topk(budget = 256)>,
    p2 = #hgc.tier_policy<host = exact_topk(budget = 0.05)>,
    p3 = #hgc.tier_policy<cxl = block_topk(budget = 64)>,
    p4 = #hgc.tier_policy<host = block_topk(block = 32, budget = 0.1)>,
    p5 = #hgc.tier_policy<storage = quant_topk(budget = 512)>,
    p6 = #hgc.tier_policy<storage = quant_topk(budget = 1.0, bits = 4)>,
    p7 = #hgc.tier_policy<host = quant_topk(mass = 0.9, budget = 0.1)>,
    p8 = #hgc.tier_policy<host = exact_topk(budget = 64, mass = 0.5)>,
    p9 = #hgc.tier_policy<host = pq_topk(budget = 0.1)>,
    p9a = #hgc.tier_policy<host = pq_topk(centroids = 1024, budget = 8, subspaces = 8, mass = 0.9)>,
    q1 = #hgc.tier_policy<storage = channel_topk(budget = 0.05)>,
    q2 = #hgc.tier_policy<host = channel_topk(capacity = 4096, budget = 64, channels = 8)>,
    q3 = #hgc.tier_policy<cxl = dense(capacity = 128)>,
    q4 = #hgc.tier_policy<host = block_topk(tail = summary, budget = 8)>,
    q5 = #hgc.tier_policy<host = exact_topk(budget = 0.05, tail = none)>} {
  return
}

// -----

// Zero sink and window are the defaults and are not printed.
// CHECK-LABEL: func.func @placement_full
// CHECK-SAME: p = #hgc.placement<tiers = [device = dense]>
func.func @placement_full() attributes {
    p = #hgc.placement<sink = 0, window = 0, tiers = [device = dense]>} {
  return
}

// -----

// Entries may come in any order; they print in canonical order.
// CHECK-LABEL: func.func @placement_hgca
// CHECK-SAME: p = #hgc.placement<sink = 4, window = 1024, tiers = [device = dense, host = exact_topk(budget = 0.05)]>
func.func @placement_hgca() attributes {
    p = #hgc.placement<tiers = [device = dense, host = exact_topk(budget = 0.05)],
                       window = 1024, sink = 4>} {
  return
}

// -----

// Three tiers (a storage tier below a capped host), a window-only hot set, per-head overrides
// (HeadInfer: whole heads on the host; Fluxion: a per-head budget).
// CHECK-LABEL: func.func @placement_tiers_and_heads
// CHECK-SAME: p = #hgc.placement<window = 512,
// CHECK-SAME: tiers = [device = dense, host = block_topk(budget = 32, block = 16, capacity = 65536), storage = quant_topk(budget = 0.02, bits = 4)],
// CHECK-SAME: heads = {{\[\[}}0, 3] = <tiers = [host = dense]>, [5] = <sink = 16, window = 64, tiers = [device = dense, host = exact_topk(budget = 128)]>]>
func.func @placement_tiers_and_heads() attributes {
    p = #hgc.placement<window = 512,
          tiers = [device = dense, host = block_topk(budget = 32, capacity = 65536),
                   storage = quant_topk(budget = 0.02, bits = 4)],
          heads = [[0, 3] = <tiers = [host = dense]>,
                   [5] = <sink = 16, window = 64,
                          tiers = [device = dense, host = exact_topk(budget = 128)]>]>} {
  return
}

// -----

// CHECK-LABEL: func.func @head_placement
// CHECK-SAME: h = #hgc.head_placement<[2] = <tiers = [device = dense]>>
func.func @head_placement() attributes {
    h = #hgc.head_placement<[2] = <tiers = [device = dense]>>} {
  return
}

// -----

// CHECK-LABEL: func.func @kv_cache_types
// CHECK-SAME: !hgc.kv_cache<8x128xf32>
// CHECK-SAME: !hgc.kv_cache<1x64xf16, page_size = 1>
// CHECK-SAME: !hgc.kv_cache<32x256xbf16, page_size = 64, max_tokens = 1048576>
// CHECK-SAME: !hgc.kv_cache<2x80xf16, max_tokens = 100>
// CHECK-SAME: !hgc.token
func.func @kv_cache_types(%a: !hgc.kv_cache<8x128xf32, page_size = 16>,
    %b: !hgc.kv_cache<1x64xf16, page_size = 1>,
    %c: !hgc.kv_cache<32x256xbf16, max_tokens = 1048576, page_size = 64>,
    %d: !hgc.kv_cache<2x80xf16, max_tokens = 100>, %t: !hgc.token) {
  return
}
