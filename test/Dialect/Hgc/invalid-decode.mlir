// RUN: hgc-opt %s -split-input-file -verify-diagnostics

func.func @decode_query_rank(%q: tensor<1x32x1x128xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{query must be [batch, q_heads, head_dim], got 'tensor<1x32x1x128xf32>'}}
  %o = hgc.decode_attention %q, %c : tensor<1x32x1x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x1x128xf32>
  return
}

// -----

func.func @decode_groups(%q: tensor<1x12x128xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{q_heads (12) must be a multiple of kv_heads (8)}}
  %o = hgc.decode_attention %q, %c : tensor<1x12x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x12x128xf32>
  return
}

// -----

func.func @decode_head_dim(%q: tensor<1x32x64xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{query head_dim (64) must equal cache head_dim (128)}}
  %o = hgc.decode_attention %q, %c : tensor<1x32x64xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x64xf32>
  return
}

// -----

func.func @decode_output_type(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{output type 'tensor<1x32x128xf16>' must match the query type 'tensor<1x32x128xf32>'}}
  %o = hgc.decode_attention %q, %c : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf16>
  return
}

// -----

func.func @decode_scale(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{scale must be finite}}
  %o = hgc.decode_attention %q, %c {scale = 0x7FC00000 : f32} : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return
}

// -----

func.func @decode_head_override_range(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{placement overrides KV head 8 but the cache has 8 KV heads}}
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<sink = 4, window = 64,
      tiers = [device = dense, host = exact_topk(budget = 0.1)],
      heads = [[8] = <tiers = [host = dense]>]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return
}

// -----

func.func @decode_window_exceeds_capacity(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16, max_tokens = 1024>) {
  // expected-error @+1 {{placement hot set (sink + window = 1028) exceeds the cache's max_tokens 1024}}
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<sink = 4, window = 1024,
      tiers = [device = dense, host = exact_topk(budget = 0.1)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16, max_tokens = 1024> -> tensor<1x32x128xf32>
  return
}

// -----

func.func @decode_budget_exceeds_capacity(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16, max_tokens = 1024>) {
  // A head override's budget is checked too: 128 blocks of 16 tokens.
  // expected-error @+1 {{budget of tier 'host' exceeds the cache's max_tokens 1024}}
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<sink = 4, window = 64,
      tiers = [device = dense, host = exact_topk(budget = 0.1)],
      heads = [[0] = <window = 8, tiers = [device = dense, host = block_topk(budget = 128)]>]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16, max_tokens = 1024> -> tensor<1x32x128xf32>
  return
}

// -----

func.func @kv_view_types_differ(%c: !hgc.kv_cache<8x64xf32>) {
  // expected-error @+1 {{key and value must have one type, got 'tensor<?x8x?x64xf32>' and 'tensor<?x8x?x32xf32>'}}
  %k, %v, %l = hgc.kv_view %c tier host : !hgc.kv_cache<8x64xf32>
      -> tensor<?x8x?x64xf32>, tensor<?x8x?x32xf32>, tensor<?xi32>
  return
}

// -----

func.func @kv_view_element_type(%c: !hgc.kv_cache<8x64xf32>) {
  // expected-error @+1 {{key element type 'f16' differs from the cache's 'f32'}}
  %k, %v, %l = hgc.kv_view %c tier host : !hgc.kv_cache<8x64xf32>
      -> tensor<?x8x?x64xf16>, tensor<?x8x?x64xf16>, tensor<?xi32>
  return
}

// -----

func.func @kv_view_heads(%c: !hgc.kv_cache<8x64xf32>) {
  // expected-error @+1 {{'key' has shape [?, 4, ?, 64], expected [?, 8, ?, 64]}}
  %k, %v, %l = hgc.kv_view %c tier device : !hgc.kv_cache<8x64xf32>
      -> tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?xi32>
  return
}

// -----

func.func @kv_view_lengths(%c: !hgc.kv_cache<8x64xf32>) {
  // expected-error @+1 {{'lengths' has shape [3], expected [2]}}
  %k, %v, %l = hgc.kv_view %c tier host : !hgc.kv_cache<8x64xf32>
      -> tensor<2x8x?x64xf32>, tensor<2x8x?x64xf32>, tensor<3xi32>
  return
}

// -----

func.func @kv_view_unknown_tier(%c: !hgc.kv_cache<8x64xf32>) {
  // expected-error @+1 {{unknown keyword 'gpu'}}
  %k, %v, %l = hgc.kv_view %c tier gpu : !hgc.kv_cache<8x64xf32>
      -> tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?xi32>
  return
}

// -----

func.func @kv_view_tier_not_placed(%c: !hgc.kv_cache<8x64xf32>) {
  // expected-error @+1 {{tier 'cxl' is not in the placement}}
  %k, %v, %l = hgc.kv_view %c tier cxl {placement = #hgc.placement<window = 4,
      tiers = [device = dense, host = dense]>} : !hgc.kv_cache<8x64xf32>
      -> tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?xi32>
  return
}

// -----

func.func @kv_view_head_overrides(%c: !hgc.kv_cache<8x64xf32>) {
  // expected-error @+1 {{views one placement for all KV heads; per-head overrides need one view per head group}}
  %k, %v, %l = hgc.kv_view %c tier device {placement = #hgc.placement<tiers = [device = dense],
      heads = [[1] = <tiers = [host = dense]>]>} : !hgc.kv_cache<8x64xf32>
      -> tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?xi32>
  return
}

// -----

func.func @bind_types(%k: tensor<1x8x4x64xf32>, %v: tensor<1x8x5x64xf32>) {
  // expected-error @+1 {{key and value must have one type, got 'tensor<1x8x4x64xf32>' and 'tensor<1x8x5x64xf32>'}}
  %c = hgc.bind_kv %k, %v : tensor<1x8x4x64xf32>, tensor<1x8x5x64xf32> -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @bind_element(%k: tensor<1x8x4x64xf32>) {
  // expected-error @+1 {{key element type 'f32' differs from the cache's 'f16'}}
  %c = hgc.bind_kv %k, %k : tensor<1x8x4x64xf32>, tensor<1x8x4x64xf32> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @bind_heads(%k: tensor<1x4x4x64xf32>) {
  // expected-error @+1 {{'key' has shape [1, 4, 4, 64], expected [1, 8, ?, 64]}}
  %c = hgc.bind_kv %k, %k : tensor<1x4x4x64xf32>, tensor<1x4x4x64xf32> -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @bind_capacity(%k: tensor<1x8x40x64xf32>) {
  // expected-error @+1 {{binds 40 tokens to a cache of max_tokens 32}}
  %c = hgc.bind_kv %k, %k : tensor<1x8x40x64xf32>, tensor<1x8x40x64xf32> -> !hgc.kv_cache<8x64xf32, max_tokens = 32>
  return
}

// -----

func.func @bind_lengths(%k: tensor<2x8x40x64xf32>, %n: tensor<3xi32>) {
  // expected-error @+1 {{'lengths' has shape [3], expected [2]}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<3xi32>) : tensor<2x8x40x64xf32>, tensor<2x8x40x64xf32> -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @bind_summaries_block(%k: tensor<1x8x40x64xf32>, %s: tensor<1x8x3x64xf32>) {
  // expected-error @+1 {{summaries and summary_block go together}}
  %c = hgc.bind_kv %k, %k summaries(%s, %s : tensor<1x8x3x64xf32>, tensor<1x8x3x64xf32>)
      : tensor<1x8x40x64xf32>, tensor<1x8x40x64xf32> -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @bind_summaries_power(%k: tensor<1x8x40x64xf32>, %s: tensor<1x8x4x64xf32>) {
  // expected-error @+1 {{summary_block must be a positive power of two, got 12}}
  %c = hgc.bind_kv %k, %k summaries(%s, %s : tensor<1x8x4x64xf32>, tensor<1x8x4x64xf32>)
      {summary_block = 12 : i64}
      : tensor<1x8x40x64xf32>, tensor<1x8x40x64xf32> -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @bind_summaries_one(%k: tensor<1x8x40x64xf32>, %s: tensor<1x8x3x64xf32>) {
  // expected-error @+1 {{summaries need both the key minimum and maximum}}
  %c = "hgc.bind_kv"(%k, %k, %s) <{operandSegmentSizes = array<i32: 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0>,
      summary_block = 16 : i64}>
      : (tensor<1x8x40x64xf32>, tensor<1x8x40x64xf32>, tensor<1x8x3x64xf32>)
      -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @bind_summaries_types(%k: tensor<1x8x40x64xf32>, %lo: tensor<1x8x3x64xf32>,
    %hi: tensor<1x8x3x64xf16>) {
  // expected-error @+1 {{key minimum and key maximum must have one type, got 'tensor<1x8x3x64xf32>' and 'tensor<1x8x3x64xf16>'}}
  %c = hgc.bind_kv %k, %k summaries(%lo, %hi : tensor<1x8x3x64xf32>, tensor<1x8x3x64xf16>)
      {summary_block = 16 : i64}
      : tensor<1x8x40x64xf32>, tensor<1x8x40x64xf32> -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @bind_summaries_blocks(%k: tensor<1x8x40x64xf32>, %s: tensor<1x8x2x64xf32>) {
  // expected-error @+1 {{'key minimum' has shape [1, 8, 2, 64], expected [1, 8, 3, 64]}}
  %c = hgc.bind_kv %k, %k summaries(%s, %s : tensor<1x8x2x64xf32>, tensor<1x8x2x64xf32>)
      {summary_block = 16 : i64}
      : tensor<1x8x40x64xf32>, tensor<1x8x40x64xf32> -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @view_head_group_out_of_range(%c: !hgc.kv_cache<4x64xf16>) {
  // expected-error @+1 {{KV heads [3, 3 + 2) are not within the cache's 4}}
  %k, %v, %n = hgc.kv_view %c tier host {first_head = 3 : i64} : !hgc.kv_cache<4x64xf16> -> tensor<1x2x?x64xf16>, tensor<1x2x?x64xf16>, tensor<1xi32>
  return
}

// -----

func.func @summaries_head_group_out_of_range(%c: !hgc.kv_cache<4x64xf16>) {
  // expected-error @+1 {{KV heads [4, 4 + 1) are not within the cache's 4}}
  %lo, %hi, %n = hgc.kv_summaries %c tier host {first_head = 4 : i64, block_size = 16 : i64} : !hgc.kv_cache<4x64xf16> -> tensor<1x1x?x64xf16>, tensor<1x1x?x64xf16>, tensor<1xi32>
  return
}

// -----

func.func @bind_codes_one(%k: tensor<1x8x40x64xf32>, %c: tensor<1x8x40x64xi8>) {
  // expected-error @+1 {{codes need both the key codes and their scales}}
  %r = "hgc.bind_kv"(%k, %k, %c) <{operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0>}>
      : (tensor<1x8x40x64xf32>, tensor<1x8x40x64xf32>, tensor<1x8x40x64xi8>)
      -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @bind_codes_tokens(%k: tensor<1x8x40x64xf32>, %c: tensor<1x8x39x64xi8>, %s: tensor<1x8x39xf32>) {
  // expected-error @+1 {{'key codes' has shape [1, 8, 39, 64], expected [1, 8, 40, 64]}}
  %r = hgc.bind_kv %k, %k codes(%c, %s : tensor<1x8x39x64xi8>, tensor<1x8x39xf32>)
      : tensor<1x8x40x64xf32>, tensor<1x8x40x64xf32> -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @bind_codes_scales(%k: tensor<1x8x40x64xf32>, %c: tensor<1x8x40x64xi8>, %s: tensor<1x8x40x64xf32>) {
  // expected-error @+1 {{'key scales' has shape [1, 8, 40, 64], expected [1, 8, 40]}}
  %r = hgc.bind_kv %k, %k codes(%c, %s : tensor<1x8x40x64xi8>, tensor<1x8x40x64xf32>)
      : tensor<1x8x40x64xf32>, tensor<1x8x40x64xf32> -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @bind_pq_one(%k: tensor<1x8x40x64xf32>, %c: tensor<1x8x40x16xi8>) {
  // expected-error @+1 {{pq needs both the codes and their codebooks}}
  %r = "hgc.bind_kv"(%k, %k, %c) <{operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0>}>
      : (tensor<1x8x40x64xf32>, tensor<1x8x40x64xf32>, tensor<1x8x40x16xi8>)
      -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @bind_pq_tokens(%k: tensor<1x8x40x64xf32>, %c: tensor<1x8x30x16xi8>, %b: tensor<1x8x16x256x4xf32>) {
  // expected-error @+1 {{'pq codes' has shape [1, 8, 30, 16], expected [1, 8, 40, 16]}}
  %r = hgc.bind_kv %k, %k pq(%c, %b : tensor<1x8x30x16xi8>, tensor<1x8x16x256x4xf32>)
      : tensor<1x8x40x64xf32>, tensor<1x8x40x64xf32> -> !hgc.kv_cache<8x64xf32>
  return
}

// -----

func.func @decode_pq_subspaces(%q: tensor<1x8x64xf32>, %c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{pq_topk subspaces 12 of tier 'host' do not divide head_dim 64}}
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<window = 16,
      tiers = [device = dense, host = pq_topk(budget = 8, subspaces = 12)]>}
      : tensor<1x8x64xf32>, !hgc.kv_cache<8x64xf16> -> tensor<1x8x64xf32>
  return
}

// -----

func.func @channel_keys_shape(%k: tensor<1x8x40x64xf16>, %c: tensor<1x8x40x64xf16>) {
  // expected-error @+1 {{'channel keys [batch, kv_heads, head_dim, tokens]' has shape [1, 8, 40, 64], expected [1, 8, 64, 40]}}
  %r = hgc.bind_kv %k, %k channel_keys(%c : tensor<1x8x40x64xf16>)
      : tensor<1x8x40x64xf16>, tensor<1x8x40x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @channel_keys_type(%k: tensor<1x8x40x64xf16>, %c: tensor<1x8x64x40xf32>) {
  // expected-error @+1 {{channel keys element type 'f32' differs from the cache's 'f16'}}
  %r = hgc.bind_kv %k, %k channel_keys(%c : tensor<1x8x64x40xf32>)
      : tensor<1x8x40x64xf16>, tensor<1x8x40x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @value_sums_without_block(%k: tensor<1x8x40x64xf16>, %s: tensor<1x8x3x64xf32>) {
  // expected-error @+1 {{value_sums and value_block go together}}
  %r = hgc.bind_kv %k, %k value_sums(%s : tensor<1x8x3x64xf32>)
      : tensor<1x8x40x64xf16>, tensor<1x8x40x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @value_sums_blocks(%k: tensor<1x8x40x64xf16>, %s: tensor<1x8x2x64xf32>) {
  // expected-error @+1 {{'value sums [batch, kv_heads, blocks, head_dim]' has shape [1, 8, 2, 64], expected [1, 8, 3, 64]}}
  %r = hgc.bind_kv %k, %k value_sums(%s : tensor<1x8x2x64xf32>) {value_block = 16 : i64}
      : tensor<1x8x40x64xf16>, tensor<1x8x40x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @value_block_power(%k: tensor<1x8x40x64xf16>, %s: tensor<1x8x4x64xf32>) {
  // expected-error @+1 {{value_block must be a positive power of two, got 12}}
  %r = hgc.bind_kv %k, %k value_sums(%s : tensor<1x8x4x64xf32>) {value_block = 12 : i64}
      : tensor<1x8x40x64xf16>, tensor<1x8x40x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @preselected_without_placement(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>, %i: tensor<1x8x4xi32>) {
  // expected-error @+1 {{preselected candidates need a placement of two tiers whose second selects, without head overrides}}
  %o = hgc.decode_attention %q, %c preselected(%i : tensor<1x8x4xi32>)
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return
}

// -----

func.func @preselected_dense_host(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>, %i: tensor<1x8x4xi32>) {
  // expected-error @+1 {{preselected candidates need a placement of two tiers whose second selects, without head overrides}}
  %o = hgc.decode_attention %q, %c preselected(%i : tensor<1x8x4xi32>)
      {placement = #hgc.placement<window = 8, tiers = [device = dense, host = dense]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return
}

// -----

func.func @preselected_channels(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>, %i: tensor<1x8x4xi32>) {
  // expected-error @+1 {{preselected candidates carry no kept mass for channel_topk to fold the rest in with}}
  %o = hgc.decode_attention %q, %c preselected(%i : tensor<1x8x4xi32>)
      {placement = #hgc.placement<window = 8, tiers = [device = dense, host = channel_topk(budget = 4)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return
}

// -----

func.func @preselected_heads(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>, %i: tensor<1x4x4xi32>) {
  // expected-error @+1 {{'preselected' has shape [1, 4, 4], expected [1, 8, 4]}}
  %o = hgc.decode_attention %q, %c preselected(%i : tensor<1x4x4xi32>)
      {placement = #hgc.placement<window = 8, tiers = [device = dense, host = exact_topk(budget = 4)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return
}

// -----

func.func @preselect_dense_host(%p: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{preselected candidates need a placement of two tiers whose second selects, without head overrides}}
  %i = hgc.preselect %p, %c
      {placement = #hgc.placement<window = 8, tiers = [device = dense, host = dense]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x8x4xi32>
  return
}

// -----

func.func @preselect_channels(%p: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{preselected candidates carry no kept mass for channel_topk to fold the rest in with}}
  %i = hgc.preselect %p, %c
      {placement = #hgc.placement<window = 8, tiers = [device = dense, host = channel_topk(budget = 4)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x8x4xi32>
  return
}

// -----

func.func @preselect_budget(%p: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{'candidates' has shape [1, 8, 3], expected [1, 8, 4]}}
  %i = hgc.preselect %p, %c
      {placement = #hgc.placement<window = 8, tiers = [device = dense, host = exact_topk(budget = 4)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x8x3xi32>
  return
}

// -----

func.func @preselect_heads(%p: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{'candidates' has shape [1, 4, 4], expected [1, 8, 4]}}
  %i = hgc.preselect %p, %c
      {placement = #hgc.placement<window = 8, tiers = [device = dense, host = exact_topk(budget = 4)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x4x4xi32>
  return
}

// -----

func.func @preselect_subspaces(%p: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{pq_topk subspaces 3 of tier 'host' do not divide head_dim 128}}
  %i = hgc.preselect %p, %c
      {placement = #hgc.placement<window = 8, tiers = [device = dense, host = pq_topk(budget = 4, subspaces = 3, centroids = 16)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x8x4xi32>
  return
}

// -----

func.func @preselect_query_dim(%p: tensor<1x32x64xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{query head_dim (64) must equal cache head_dim (128)}}
  %i = hgc.preselect %p, %c
      {placement = #hgc.placement<window = 8, tiers = [device = dense, host = exact_topk(budget = 4)]>}
      : tensor<1x32x64xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x8x4xi32>
  return
}

// -----

func.func @decode_tail_softcap(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) {
  // expected-error @+1 {{tier 'host' estimates its tail from uncapped scores; it cannot with softcap 3.000000e+01}}
  %o = hgc.decode_attention %q, %c {softcap = 30.0 : f32, placement = #hgc.placement<sink = 4, window = 64,
      tiers = [device = dense, host = exact_topk(budget = 0.05, tail = summary)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return
}
