// RUN: hgc-opt %s -split-input-file -hgc-place-kv | FileCheck %s --check-prefix=FULL
// RUN: hgc-opt %s -split-input-file -hgc-place-kv="policy=hgca" | FileCheck %s --check-prefix=HGCA
// Nested under func.func (each function's pass a clone): the same placement.
// RUN: hgc-opt %s -split-input-file \
// RUN:   --pass-pipeline="builtin.module(func.func(hgc-place-kv{policy=hgca}))" \
// RUN:   | FileCheck %s --check-prefix=HGCA
// RUN: hgc-opt %s -split-input-file \
// RUN:   -hgc-place-kv="policy=hgca sink=0 window=256 budget=64" | FileCheck %s --check-prefix=TOKENS
// RUN: hgc-opt %s -split-input-file \
// RUN:   -hgc-place-kv="policy=quest sink=16 window=256 budget=100 block=32" | FileCheck %s --check-prefix=QUEST
// RUN: hgc-opt %s -split-input-file -hgc-place-kv="policy=hca" | FileCheck %s --check-prefix=HCA
// RUN: hgc-opt %s -split-input-file \
// RUN:   -hgc-place-kv="policy=hca budget=512 tau=0.75" | FileCheck %s --check-prefix=HCA-TAU
// RUN: hgc-opt %s -split-input-file \
// RUN:   -hgc-place-kv="policy=hca codebook=pq16x1024" | FileCheck %s --check-prefix=HCA-PQ
// RUN: hgc-opt %s -split-input-file -hgc-place-kv="policy=sparf" | FileCheck %s --check-prefix=SPARF
// RUN: hgc-opt %s -split-input-file \
// RUN:   -hgc-place-kv="policy=sparf channels=16 host-capacity=65536" | FileCheck %s --check-prefix=SPARF-3
// RUN: hgc-opt %s -split-input-file \
// RUN:   -hgc-place-kv="policy=hgca host-capacity=4096" | FileCheck %s --check-prefix=HGCA-3
// RUN: hgc-opt %s -split-input-file \
// RUN:   -hgc-place-kv="policy=hgca host-capacity=4096 far-capacity=16384" | FileCheck %s --check-prefix=HGCA-4
// RUN: hgc-opt %s -split-input-file \
// RUN:   -hgc-place-kv="policy=quest tail=summary" | FileCheck %s --check-prefix=TAIL
// RUN: hgc-opt %s -split-input-file \
// RUN:   -hgc-place-kv="policy=hgca tail=none" | FileCheck %s --check-prefix=HGCA

// The default policy is full: one tier, exact.
// FULL-LABEL: func.func @unplaced
// FULL: hgc.decode_attention
// FULL-SAME: placement = #hgc.placement<tiers = [device = dense]>

// HGCA defaults: 4 sinks, a 1024-token window, an exact top-5% on the host.
// HGCA-LABEL: func.func @unplaced
// HGCA: hgc.decode_attention
// HGCA-SAME: placement = #hgc.placement<sink = 4, window = 1024, tiers = [device = dense, host = exact_topk(budget = 0.05)]>

// An integer budget is a token count.
// TOKENS-LABEL: func.func @unplaced
// TOKENS: hgc.decode_attention
// TOKENS-SAME: placement = #hgc.placement<window = 256, tiers = [device = dense, host = exact_topk(budget = 64)]>

// Quest selects host blocks: a token budget rounds up to whole blocks.
// QUEST-LABEL: func.func @unplaced
// QUEST: hgc.decode_attention
// QUEST-SAME: placement = #hgc.placement<sink = 16, window = 256, tiers = [device = dense, host = block_topk(budget = 4, block = 32)]>
// HCA scores host tokens from int8 codes and keeps by softmax mass: tau 0.9
// by default, the budget a cap.
// HCA-LABEL: func.func @unplaced
// HCA: hgc.decode_attention
// HCA-SAME: placement = #hgc.placement<sink = 4, window = 1024, tiers = [device = dense, host = quant_topk(budget = 0.05, bits = 8, mass = 0.9)]>

// HCA-TAU-LABEL: func.func @unplaced
// HCA-TAU: hgc.decode_attention
// HCA-TAU-SAME: host = quant_topk(budget = 512, bits = 8, mass = 0.75)

// A product-quantized codebook: pq_topk with its sub-spaces and centroids.
// HCA-PQ-LABEL: func.func @unplaced
// HCA-PQ: hgc.decode_attention
// HCA-PQ-SAME: host = pq_topk(budget = 0.05, subspaces = 16, centroids = 1024, mass = 0.9)

// A summary tail estimates the host tokens the selection leaves out.
// TAIL-LABEL: func.func @unplaced
// TAIL: hgc.decode_attention
// TAIL-SAME: host = block_topk(budget = 0.05, block = 16, tail = summary)

// SparF scores host tokens on the query's 32 largest channels by default.
// SPARF-LABEL: func.func @unplaced
// SPARF: hgc.decode_attention
// SPARF-SAME: placement = #hgc.placement<sink = 4, window = 1024, tiers = [device = dense, host = channel_topk(budget = 0.05, channels = 32)]>

// A host capacity: the host keeps that many cold tokens, a storage tier
// under the same policy the rest.
// SPARF-3-LABEL: func.func @unplaced
// SPARF-3: hgc.decode_attention
// SPARF-3-SAME: tiers = [device = dense, host = channel_topk(budget = 0.05, channels = 16, capacity = 65536), storage = channel_topk(budget = 0.05, channels = 16)]

// HGCA-3-LABEL: func.func @unplaced
// HGCA-3: hgc.decode_attention
// HGCA-3-SAME: tiers = [device = dense, host = exact_topk(budget = 0.05, capacity = 4096), storage = exact_topk(budget = 0.05)]

// A far capacity: a cxl tier between host and storage, the same selection.
// HGCA-4-LABEL: func.func @unplaced
// HGCA-4: hgc.decode_attention
// HGCA-4-SAME: tiers = [device = dense, host = exact_topk(budget = 0.05, capacity = 4096), cxl = exact_topk(budget = 0.05, capacity = 16384), storage = exact_topk(budget = 0.05)]
func.func @unplaced(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>)
    -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// A placement already in the IR is kept, whatever the policy.
// FULL-LABEL: func.func @placed
// FULL: placement = #hgc.placement<tiers = [host = dense]>
// HGCA-LABEL: func.func @placed
// HGCA: placement = #hgc.placement<tiers = [host = dense]>
// TOKENS-LABEL: func.func @placed
// TOKENS: placement = #hgc.placement<tiers = [host = dense]>
func.func @placed(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>)
    -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<tiers = [host = dense]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// Every decode attention in the module is placed, in nested regions too.
// HGCA-LABEL: func.func @two_layers
// HGCA: scf.execute_region
// HGCA: hgc.decode_attention {{.*}}placement = #hgc.placement<sink = 4, window = 1024
// HGCA: hgc.decode_attention {{.*}}placement = #hgc.placement<sink = 4, window = 1024
func.func @two_layers(%q: tensor<2x8x64xf32>, %c0: !hgc.kv_cache<2x64xbf16>,
                      %c1: !hgc.kv_cache<2x64xbf16>) -> tensor<2x8x64xf32> {
  %h = scf.execute_region -> tensor<2x8x64xf32> {
    %o0 = hgc.decode_attention %q, %c0
        : tensor<2x8x64xf32>, !hgc.kv_cache<2x64xbf16> -> tensor<2x8x64xf32>
    scf.yield %o0 : tensor<2x8x64xf32>
  }
  %o1 = hgc.decode_attention %h, %c1
      : tensor<2x8x64xf32>, !hgc.kv_cache<2x64xbf16> -> tensor<2x8x64xf32>
  return %o1 : tensor<2x8x64xf32>
}
