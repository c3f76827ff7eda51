// RUN: hgc-opt %s -split-input-file -hgc-split-attention | FileCheck %s

// One tier: a view and a dense partial, no merge.
// CHECK-LABEL: func.func @full
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x32x128xf32>, %[[C:[a-z0-9]+]]: !hgc.kv_cache<8x128xf16>)
// CHECK: %[[K:[a-z0-9_]+]], %[[V:[a-z0-9_]+]], %[[N:[a-z0-9_]+]] = hgc.kv_view %[[C]] tier device
// CHECK-SAME: -> tensor<1x8x?x128xf16>, tensor<1x8x?x128xf16>, tensor<1xi32>
// CHECK: %[[O:[a-z0-9_]+]], %{{.+}} = hgc.partial_attention %[[Q]], %[[K]], %[[V]] lengths(%[[N]])
// CHECK-SAME: -> (tensor<1x32x128xf32>, tensor<1x32xf32>)
// CHECK-NOT: hgc.lse_merge
// CHECK-NOT: hgc.decode_attention
// CHECK: return %[[O]]
func.func @full(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>)
    -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<tiers = [device = dense]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// HGCA with a fractional budget: the device tier dense, the host tier
// selected (a run-time sized top-k) then attended, an exact merge, and the
// f32 accumulation truncated back to the query's bf16. Scale and softcap
// reach every partial and the selection.
// CHECK-LABEL: func.func @hgca_fraction
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<2x32x128xbf16>, %[[C:[a-z0-9]+]]: !hgc.kv_cache<8x128xbf16>)
// CHECK: %[[KD:[a-z0-9_]+]], %[[VD:[a-z0-9_]+]], %[[ND:[a-z0-9_]+]] = hgc.kv_view %[[C]] tier device
// CHECK: %[[OD:[a-z0-9_]+]], %[[LD:[a-z0-9_]+]] = hgc.partial_attention %[[Q]], %[[KD]], %[[VD]] lengths(%[[ND]])
// CHECK-SAME: scale = 5.000000e-01 : f32, softcap = 3.000000e+01 : f32
// CHECK: %[[KH:[a-z0-9_]+]], %[[VH:[a-z0-9_]+]], %[[NH:[a-z0-9_]+]] = hgc.kv_view %[[C]] tier host
// CHECK: %[[I:[a-z0-9_]+]] = hgc.select exact_topk %[[Q]], %[[KH]] lengths(%[[NH]])
// CHECK-SAME: fraction = 5.000000e-02 : f64, scale = 5.000000e-01 : f32
// CHECK-SAME: -> tensor<2x8x?xi32>
// CHECK: %[[OH:[a-z0-9_]+]], %[[LH:[a-z0-9_]+]] = hgc.partial_attention %[[Q]], %[[KH]], %[[VH]] indices(%[[I]]) lengths(%[[NH]])
// CHECK: %[[O:[a-z0-9_]+]], %{{.+}} = hgc.lse_merge %[[OD]], %[[OH]] lse %[[LD]], %[[LH]] : tensor<2x32x128xf32>, tensor<2x32xf32>
// CHECK: %[[T:.+]] = arith.truncf %[[O]] : tensor<2x32x128xf32> to tensor<2x32x128xbf16>
// CHECK: return %[[T]]
func.func @hgca_fraction(%q: tensor<2x32x128xbf16>, %c: !hgc.kv_cache<8x128xbf16>)
    -> tensor<2x32x128xbf16> {
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<sink = 4, window = 64,
      tiers = [device = dense, host = exact_topk(budget = 0.05)]>,
      scale = 0.5 : f32, softcap = 30.0 : f32}
      : tensor<2x32x128xbf16>, !hgc.kv_cache<8x128xbf16> -> tensor<2x32x128xbf16>
  return %o : tensor<2x32x128xbf16>
}

// -----

// A token-count budget gives a static selection size; three tiers merge
// three partials.
// CHECK-LABEL: func.func @three_tiers_count
// CHECK: hgc.kv_view %{{.+}} tier device
// CHECK: hgc.kv_view %{{.+}} tier host
// CHECK: hgc.select exact_topk {{.*}}{k = 256 : i64}
// CHECK-SAME: -> tensor<?x2x256xi32>
// CHECK: hgc.kv_view %{{.+}} tier storage
// CHECK-NOT: hgc.select
// CHECK: hgc.lse_merge %{{.+}}, %{{.+}}, %{{.+}} lse
// CHECK-NOT: arith.truncf
func.func @three_tiers_count(%q: tensor<?x8x64xf32>, %c: !hgc.kv_cache<2x64xf32>)
    -> tensor<?x8x64xf32> {
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<window = 128,
      tiers = [device = dense, host = exact_topk(budget = 256, capacity = 4096),
               storage = dense]>}
      : tensor<?x8x64xf32>, !hgc.kv_cache<2x64xf32> -> tensor<?x8x64xf32>
  return %o : tensor<?x8x64xf32>
}

// -----

// Block selection: the host tier's per-block key summaries feed block_topk,
// whose block indices the partial expands to the blocks' tokens.
// CHECK-LABEL: func.func @quest_blocks
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x32x128xf32>, %[[C:[a-z0-9]+]]: !hgc.kv_cache<8x128xf16>)
// CHECK: %[[KH:[a-z0-9_]+]], %[[VH:[a-z0-9_]+]], %[[NH:[a-z0-9_]+]] = hgc.kv_view %[[C]] tier host
// CHECK: %[[MIN:[a-zA-Z0-9_]+]], %[[MAX:[a-zA-Z0-9_]+]], %[[NB:[a-zA-Z0-9_]+]] = hgc.kv_summaries %[[C]] tier host
// CHECK-SAME: block_size = 32 : i64
// CHECK-SAME: -> tensor<1x8x?x128xf16>, tensor<1x8x?x128xf16>, tensor<1xi32>
// CHECK: %[[I:[a-z0-9_]+]] = hgc.select block_topk %[[Q]], %[[MIN]], %[[MAX]] lengths(%[[NB]])
// CHECK-SAME: block_size = 32 : i64, k = 8 : i64
// CHECK: hgc.partial_attention %[[Q]], %[[KH]], %[[VH]] indices(%[[I]]) lengths(%[[NH]])
// CHECK-SAME: block_size = 32 : i64
// CHECK: hgc.lse_merge
func.func @quest_blocks(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>)
    -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<sink = 32, window = 64,
      tiers = [device = dense, host = block_topk(budget = 8, block = 32)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// Token selection from key codes: the host tier's int8 codes and scales feed
// quant_topk with the tier's mass keep rule; the kept tokens are attended
// exactly from the view.
// CHECK-LABEL: func.func @hca_codes
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x32x128xf32>, %[[C:[a-z0-9]+]]: !hgc.kv_cache<8x128xf16>)
// CHECK: %[[KH:[a-z0-9_]+]], %[[VH:[a-z0-9_]+]], %[[NH:[a-z0-9_]+]] = hgc.kv_view %[[C]] tier host
// CHECK: %[[CODES:[a-zA-Z0-9_]+]], %[[SCALES:[a-zA-Z0-9_]+]], %[[NC:[a-zA-Z0-9_]+]] = hgc.kv_key_codes %[[C]] tier host
// CHECK-SAME: -> tensor<1x8x?x128xi8>, tensor<1x8x?xf32>, tensor<1xi32>
// CHECK: %[[I:[a-z0-9_]+]] = hgc.select quant_topk %[[Q]], %[[CODES]], %[[SCALES]] lengths(%[[NC]])
// CHECK-SAME: fraction = 1.000000e-01 : f64, mass = 8.500000e-01 : f64
// CHECK: hgc.partial_attention %[[Q]], %[[KH]], %[[VH]] indices(%[[I]]) lengths(%[[NH]])
// CHECK-NOT: block_size
// CHECK: hgc.lse_merge
func.func @hca_codes(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>)
    -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<sink = 4, window = 64,
      tiers = [device = dense, host = quant_topk(budget = 0.1, bits = 8, mass = 0.85)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// Product-quantized codes: the host tier's codes (i16 beyond 256 centroids)
// and its head group's codebooks feed pq_topk.
// CHECK-LABEL: func.func @hca_pq
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x32x128xf32>, %[[C:[a-z0-9]+]]: !hgc.kv_cache<8x128xf16>)
// CHECK: %[[CODES:[a-zA-Z0-9_]+]], %[[BOOKS:[a-zA-Z0-9_]+]], %[[NC:[a-zA-Z0-9_]+]] = hgc.kv_pq_codes %[[C]] tier host
// CHECK-SAME: centroids = 512 : i64
// CHECK-SAME: subspaces = 32 : i64
// CHECK-SAME: -> tensor<1x8x?x32xi16>, tensor<1x8x32x512x4xf32>, tensor<1xi32>
// CHECK: hgc.select pq_topk %[[Q]], %[[CODES]], %[[BOOKS]] lengths(%[[NC]])
// CHECK-SAME: k = 64 : i64
func.func @hca_pq(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>)
    -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<sink = 4, window = 64,
      tiers = [device = dense, host = pq_topk(budget = 64, subspaces = 32, centroids = 512)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// SparF on a host tier and a storage tier: each selects on the query's
// largest channels, reports the mass it kept, and folds the rest in as the
// tier's mean value before the three-way merge.
// CHECK-LABEL: func.func @sparf_three_tiers
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x32x128xf32>, %[[C:[a-z0-9]+]]: !hgc.kv_cache<8x128xf16>)
// CHECK: hgc.kv_view %[[C]] tier device
// CHECK: %[[KH:[a-z0-9_]+]], %[[VH:[a-z0-9_]+]], %[[NH:[a-z0-9_]+]] = hgc.kv_view %[[C]] tier host
// CHECK: %[[KT:[a-z0-9_]+]], %[[NT:[a-z0-9_]+]] = hgc.kv_channel_keys %[[C]] tier host
// CHECK-SAME: -> tensor<1x8x128x?xf16>, tensor<1xi32>
// CHECK: %[[I:[a-z0-9_]+]], %[[A:[a-z0-9_]+]] = hgc.select channel_topk %[[Q]], %[[KT]] lengths(%[[NT]])
// CHECK-SAME: channels = 16 : i64
// CHECK-SAME: -> (tensor<1x8x?xi32>, tensor<1x8xf32>)
// CHECK: %[[O:[a-z0-9_]+]], %[[L:[a-z0-9_]+]] = hgc.partial_attention %[[Q]], %[[KH]], %[[VH]] indices(%[[I]]) lengths(%[[NH]])
// CHECK: %[[M:[a-z0-9_]+]] = hgc.kv_value_mean %[[C]] tier host
// CHECK-SAME: -> tensor<1x8x128xf32>
// CHECK: %[[FO:[a-z0-9_]+]], %[[FL:[a-z0-9_]+]] = hgc.mean_fold %[[O]], %[[L]], %[[A]], %[[M]]
// CHECK: hgc.kv_view %[[C]] tier storage
// CHECK: hgc.select channel_topk
// CHECK-SAME: k = 32 : i64
// CHECK: hgc.mean_fold
// CHECK: hgc.lse_merge %{{.+}}, %[[FO]], %{{.+}} lse
func.func @sparf_three_tiers(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>)
    -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<sink = 4, window = 64,
      tiers = [device = dense,
               host = channel_topk(budget = 0.05, channels = 16, capacity = 8192),
               storage = channel_topk(budget = 32, channels = 16)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// Blocks chosen ahead (ScoutAttention's layer-ahead selection): the host
// tier attends them with the real query; nothing is selected in the step.
// CHECK-LABEL: func.func @preselected_blocks
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x32x128xf32>, %[[C:[a-z0-9]+]]: !hgc.kv_cache<8x128xf16>, %[[I:[a-z0-9]+]]: tensor<1x8x4xi32>)
// CHECK: %[[KH:[a-z0-9_]+]], %[[VH:[a-z0-9_]+]], %[[NH:[a-z0-9_]+]] = hgc.kv_view %[[C]] tier host
// CHECK-NOT: hgc.select
// CHECK-NOT: hgc.kv_summaries
// CHECK: hgc.partial_attention %[[Q]], %[[KH]], %[[VH]] indices(%[[I]]) lengths(%[[NH]])
// CHECK-SAME: block_size = 16 : i64
// CHECK: hgc.lse_merge
func.func @preselected_blocks(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>,
                              %i: tensor<1x8x4xi32>) -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c preselected(%i : tensor<1x8x4xi32>)
      {placement = #hgc.placement<sink = 16, window = 64,
        tiers = [device = dense, host = block_topk(budget = 4, block = 16)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// Selection ahead: the host tier's view and the selection the step would
// run, nothing attended; the candidates keep the op's type.
// CHECK-LABEL: func.func @preselect_blocks
// CHECK-SAME: (%[[P:[a-z0-9]+]]: tensor<1x32x128xf32>, %[[C:[a-z0-9]+]]: !hgc.kv_cache<8x128xf16>)
// CHECK: hgc.kv_view %[[C]] tier host
// CHECK: %[[LO:[a-zA-Z0-9_]+]], %[[HI:[a-zA-Z0-9_]+]], %[[N:[a-zA-Z0-9_]+]] = hgc.kv_summaries %[[C]] tier host
// CHECK: %[[I:[a-z0-9_]+]] = hgc.select block_topk %[[P]], %[[LO]], %[[HI]] lengths(%[[N]])
// CHECK-SAME: block_size = 16 : i64, k = 4 : i64
// CHECK-NOT: hgc.partial_attention
// CHECK: return %[[I]] : tensor<1x8x4xi32>
func.func @preselect_blocks(%p: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) -> tensor<1x8x4xi32> {
  %i = hgc.preselect %p, %c
      {placement = #hgc.placement<sink = 16, window = 64,
        tiers = [device = dense, host = block_topk(budget = 4, block = 16)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x8x4xi32>
  return %i : tensor<1x8x4xi32>
}

// -----

// A fraction budget selects a dynamic count; a static result type is cast
// to.
// CHECK-LABEL: func.func @preselect_fraction
// CHECK: %[[I:[a-z0-9_]+]] = hgc.select exact_topk
// CHECK-SAME: -> tensor<2x8x?xi32>
// CHECK: %[[R:[a-z0-9_]+]] = tensor.cast %[[I]] : tensor<2x8x?xi32> to tensor<2x8x5xi32>
// CHECK: return %[[R]]
func.func @preselect_fraction(%p: tensor<2x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) -> tensor<2x8x5xi32> {
  %i = hgc.preselect %p, %c
      {placement = #hgc.placement<window = 64,
        tiers = [device = dense, host = exact_topk(budget = 0.05)]>}
      : tensor<2x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<2x8x5xi32>
  return %i : tensor<2x8x5xi32>
}

// -----

// Without a placement there is nothing to split.
// CHECK-LABEL: func.func @unplaced
// CHECK: hgc.decode_attention
// CHECK-NOT: hgc.partial_attention
func.func @unplaced(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>)
    -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// Per-head overrides: each head group (KV heads in contiguous runs of one
// placement) views its own heads, attends its query heads, and the group
// outputs go back in head order. KV head 1 (query heads 4-7) entirely
// dense on the host (HeadInfer); the others hgca.
// CHECK-LABEL: func.func @head_groups
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x12x64xf32>, %[[C:[a-z0-9]+]]: !hgc.kv_cache<3x64xf16>)
// CHECK: %[[OUT:.*]] = tensor.empty() : tensor<1x12x64xf32>
// CHECK: %[[Q0:.*]] = tensor.extract_slice %[[Q]][0, 0, 0] [1, 4, 64] [1, 1, 1]
// CHECK: hgc.kv_view %[[C]] tier device {first_head = 0 : i64, {{.*}}} : !hgc.kv_cache<3x64xf16> -> tensor<1x1x?x64xf16>
// CHECK: hgc.select exact_topk %[[Q0]]
// CHECK: %[[M0:.*]], %{{.*}} = hgc.lse_merge
// CHECK: %[[I0:.*]] = tensor.insert_slice %[[M0]] into %[[OUT]][0, 0, 0] [1, 4, 64] [1, 1, 1]
// CHECK: %[[Q1:.*]] = tensor.extract_slice %[[Q]][0, 4, 0] [1, 4, 64] [1, 1, 1]
// CHECK: %[[K1:.*]], %[[V1:.*]], %[[N1:.*]] = hgc.kv_view %[[C]] tier host {first_head = 1 : i64, placement = #hgc.placement<tiers = [host = dense]>}
// CHECK: %[[O1:.*]], %{{.*}} = hgc.partial_attention %[[Q1]], %[[K1]], %[[V1]] lengths(%[[N1]]) : {{.*}} -> (tensor<1x4x64xf32>, tensor<1x4xf32>)
// CHECK-NOT: hgc.lse_merge
// CHECK: %[[I1:.*]] = tensor.insert_slice %[[O1]] into %[[I0]][0, 4, 0] [1, 4, 64] [1, 1, 1]
// CHECK: tensor.extract_slice %[[Q]][0, 8, 0] [1, 4, 64] [1, 1, 1]
// CHECK: hgc.kv_view %[[C]] tier host {first_head = 2 : i64
// CHECK: %[[I2:.*]] = tensor.insert_slice %{{.*}} into %[[I1]][0, 8, 0] [1, 4, 64] [1, 1, 1]
// CHECK: return %[[I2]]
func.func @head_groups(%q: tensor<1x12x64xf32>, %c: !hgc.kv_cache<3x64xf16>)
    -> tensor<1x12x64xf32> {
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<sink = 4, window = 64,
      tiers = [device = dense, host = exact_topk(budget = 0.1)],
      heads = [[1] = <tiers = [host = dense]>]>}
      : tensor<1x12x64xf32>, !hgc.kv_cache<3x64xf16> -> tensor<1x12x64xf32>
  return %o : tensor<1x12x64xf32>
}

// -----

// A summary tail: the host tier's unselected tokens estimated per block, one
// more partial in the merge; after an exact selection the blocks' mass comes
// from the scores (exact_mass).
// CHECK-LABEL: func.func @tail_summary
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x32x128xf32>, %[[C:[a-z0-9]+]]: !hgc.kv_cache<8x128xf16>)
// CHECK: %[[OD:[a-z0-9_]+]], %[[LD:[a-z0-9_]+]] = hgc.partial_attention
// CHECK: %[[KH:[a-z0-9_]+]], %[[VH:[a-z0-9_]+]], %[[NH:[a-z0-9_]+]] = hgc.kv_view %[[C]] tier host
// CHECK: %[[I:[a-z0-9_]+]] = hgc.select exact_topk %[[Q]], %[[KH]] lengths(%[[NH]])
// CHECK: %[[OH:[a-z0-9_]+]], %[[LH:[a-z0-9_]+]] = hgc.partial_attention %[[Q]], %[[KH]], %[[VH]] indices(%[[I]]) lengths(%[[NH]])
// CHECK: %[[OT:[a-z0-9_]+]], %[[LT:[a-z0-9_]+]] = hgc.tail_estimate %[[Q]], %[[KH]], %[[VH]], %[[I]] lengths(%[[NH]])
// CHECK-SAME: {exact_mass, scale = 5.000000e-01 : f32}
// CHECK: hgc.lse_merge %[[OD]], %[[OH]], %[[OT]] lse %[[LD]], %[[LH]], %[[LT]]
func.func @tail_summary(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>)
    -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c {scale = 0.5 : f32, placement = #hgc.placement<sink = 4, window = 64,
      tiers = [device = dense, host = exact_topk(budget = 0.05, tail = summary)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// Other selections estimate the blocks' mass from their key moments; sparf's
// mean fold gives way to the estimate.
// CHECK-LABEL: func.func @tail_summary_channels
// CHECK: %[[I:[a-z0-9_]+]] = hgc.select channel_topk
// CHECK-SAME: -> tensor<1x8x?xi32>
// CHECK: hgc.tail_estimate %{{.+}}, %{{.+}}, %{{.+}}, %[[I]]
// CHECK-NOT: exact_mass
// CHECK-NOT: hgc.mean_fold
// CHECK-NOT: hgc.kv_value_mean
// CHECK: hgc.lse_merge
func.func @tail_summary_channels(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>)
    -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<sink = 4, window = 64,
      tiers = [device = dense, host = channel_topk(budget = 0.05, channels = 16, tail = summary)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// Blocks chosen ahead: the tail is estimated from moments (the step's own
// selection scored nothing).
// CHECK-LABEL: func.func @tail_preselected
// CHECK: hgc.tail_estimate
// CHECK-NOT: exact_mass
// CHECK-SAME: block_size = 16 : i64
func.func @tail_preselected(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>,
                            %i: tensor<1x8x4xi32>) -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c preselected(%i : tensor<1x8x4xi32>)
      {placement = #hgc.placement<sink = 16, window = 64,
        tiers = [device = dense, host = block_topk(budget = 4, block = 16, tail = summary)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}
