// RUN: hgc-opt %s -split-input-file -verify-diagnostics

func.func @select_dense(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{'dense' selects nothing; use exact_topk, block_topk, quant_topk, pq_topk or channel_topk}}
  %i = hgc.select dense %q, %k {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_k_positive(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{attribute 'k' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %i = hgc.select exact_topk %q, %k {k = 0 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x0xi32>
  return
}

// -----

func.func @select_no_budget(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{needs a budget: exactly one of 'k' (a count) or 'fraction'}}
  %i = hgc.select exact_topk %q, %k
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x?xi32>
  return
}

// -----

func.func @select_two_budgets(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{needs a budget: exactly one of 'k' (a count) or 'fraction'}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64, fraction = 0.5 : f64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_fraction_range(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{fraction must be in (0, 1], got 1.5}}
  %i = hgc.select exact_topk %q, %k {fraction = 1.5 : f64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x?xi32>
  return
}

// -----

func.func @select_fraction_static(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{a fractional budget is sized at run time: the last indices dimension must be dynamic}}
  %i = hgc.select exact_topk %q, %k {fraction = 0.1 : f64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x10xi32>
  return
}

// -----

func.func @select_scale(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{scale must be finite}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64, scale = 0xFF800000 : f32}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_exact_arity(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{'exact_topk' takes 1 input (keys), got 2}}
  %i = hgc.select exact_topk %q, %k, %k {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_block_arity(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{'block_topk' takes 2 inputs (block key min, max), got 1}}
  %i = hgc.select block_topk %q, %k {k = 4 : i64, block_size = 16 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_quant_arity(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xi8>) {
  // expected-error @+1 {{'quant_topk' takes 2 inputs (key codes, scales), got 1}}
  %i = hgc.select quant_topk %q, %k {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xi8>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_block_size_power_of_two(%q: tensor<1x8x64xf32>, %k: tensor<1x2x10x64xf32>) {
  // expected-error @+1 {{block_size must be a positive power of two, got 12}}
  %i = hgc.select block_topk %q, %k, %k {k = 4 : i64, block_size = 12 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x10x64xf32>, tensor<1x2x10x64xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_block_size_exact(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{block_size applies to block_topk only}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64, block_size = 16 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_keys_rank(%q: tensor<1x8x64xf32>, %k: tensor<1x100x64xf32>) {
  // expected-error @+1 {{'exact_topk' input 0 must be [batch, kv_heads, candidates, head_dim], got 'tensor<1x100x64xf32>'}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x100x64xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_groups(%q: tensor<1x6x64xf32>, %k: tensor<1x4x100x64xf32>) {
  // expected-error @+1 {{q_heads (6) must be a multiple of kv_heads (4)}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64}
      : (tensor<1x6x64xf32>, tensor<1x4x100x64xf32>) -> tensor<1x4x4xi32>
  return
}

// -----

func.func @select_head_dim(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x32xf32>) {
  // expected-error @+1 {{input head_dim (32) must equal query head_dim (64)}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x32xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_batch(%q: tensor<2x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{input batch (1) must equal query batch (2)}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64}
      : (tensor<2x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<2x2x4xi32>
  return
}

// -----

func.func @select_quant_codes(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>, %s: tensor<1x2x100xf32>) {
  // expected-error @+1 {{quant_topk key codes must be i8, got 'f32'}}
  %i = hgc.select quant_topk %q, %k, %s {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_quant_scales_type(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xi8>, %s: tensor<1x2x100xf16>) {
  // expected-error @+1 {{quant_topk scales must be f32, got 'f16'}}
  %i = hgc.select quant_topk %q, %k, %s {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xi8>, tensor<1x2x100xf16>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_quant_scales_shape(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xi8>, %s: tensor<1x2x99xf32>) {
  // expected-error @+1 {{'scales' has shape [1, 2, 99], expected [1, 2, 100]}}
  %i = hgc.select quant_topk %q, %k, %s {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xi8>, tensor<1x2x99xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_keys_float(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xi8>) {
  // expected-error @+1 {{'exact_topk' keys must be floating point, got 'i8'}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xi8>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_block_min_max(%q: tensor<1x8x64xf32>, %a: tensor<1x2x10x64xf32>, %b: tensor<1x2x10x64xf16>) {
  // expected-error @+1 {{block key min and max must have one type, got 'tensor<1x2x10x64xf32>' and 'tensor<1x2x10x64xf16>'}}
  %i = hgc.select block_topk %q, %a, %b {k = 4 : i64, block_size = 16 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x10x64xf32>, tensor<1x2x10x64xf16>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_lengths(%q: tensor<2x8x64xf32>, %k: tensor<2x2x100x64xf32>, %l: tensor<1xi32>) {
  // expected-error @+1 {{'lengths' has shape [1], expected [2]}}
  %i = hgc.select exact_topk %q, %k lengths(%l) {k = 4 : i64}
      : (tensor<2x8x64xf32>, tensor<2x2x100x64xf32>, tensor<1xi32>) -> tensor<2x2x4xi32>
  return
}

// -----

func.func @select_result_k(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{'indices' has shape [1, 2, 8], expected [1, 2, 4]}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x8xi32>
  return
}

// -----

func.func @select_result_type(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{result #0 must be ranked tensor of 32-bit signless integer values}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x4xi64>
  return
}

// -----

func.func @partial_block_size(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>, %i: tensor<1x2x4xi32>) {
  // expected-error @+1 {{block_size must be a positive power of two, got 0}}
  %o, %l = hgc.partial_attention %q, %k, %k indices(%i) {block_size = 0 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x4xi32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @partial_blocks_without_indices(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{block_size > 1 selects blocks and needs indices}}
  %o, %l = hgc.partial_attention %q, %k, %k {block_size = 16 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @partial_softcap(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{softcap must be finite and >= 0 (0 disables it)}}
  %o, %l = hgc.partial_attention %q, %k, %k {softcap = -2.0 : f32}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @partial_query_rank(%q: tensor<8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{query must be [batch, q_heads, head_dim], got 'tensor<8x64xf32>'}}
  %o, %l = hgc.partial_attention %q, %k, %k
      : (tensor<8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @partial_kv_rank(%q: tensor<1x8x64xf32>, %k: tensor<2x100x64xf32>) {
  // expected-error @+1 {{key and value must be [batch, kv_heads, tokens, head_dim]}}
  %o, %l = hgc.partial_attention %q, %k, %k
      : (tensor<1x8x64xf32>, tensor<2x100x64xf32>, tensor<2x100x64xf32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @partial_kv_types(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>, %v: tensor<1x2x100x64xf16>) {
  // expected-error @+1 {{key and value element types differ: 'f32' vs 'f16'}}
  %o, %l = hgc.partial_attention %q, %k, %v
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf16>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @partial_groups(%q: tensor<1x8x64xf32>, %k: tensor<1x3x100x64xf32>) {
  // expected-error @+1 {{q_heads (8) must be a multiple of kv_heads (3)}}
  %o, %l = hgc.partial_attention %q, %k, %k
      : (tensor<1x8x64xf32>, tensor<1x3x100x64xf32>, tensor<1x3x100x64xf32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @partial_value_tokens(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>, %v: tensor<1x2x99x64xf32>) {
  // expected-error @+1 {{'value' has shape [1, 2, 99, 64], expected [1, 2, 100, 64]}}
  %o, %l = hgc.partial_attention %q, %k, %v
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x99x64xf32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @partial_indices_heads(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>, %i: tensor<1x8x4xi32>) {
  // expected-error @+1 {{'indices' has shape [1, 8, 4], expected [1, 2, ?]}}
  %o, %l = hgc.partial_attention %q, %k, %k indices(%i)
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>, tensor<1x8x4xi32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @partial_output_shape(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>, %v: tensor<1x2x100x32xf32>) {
  // expected-error @+1 {{'output' has shape [1, 8, 64], expected [1, 8, 32]}}
  %o, %l = hgc.partial_attention %q, %k, %v
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x32xf32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @partial_lse_shape(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{'lse' has shape [1, 8, 1], expected [1, 8]}}
  %o, %l = hgc.partial_attention %q, %k, %k
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>)
      -> (tensor<1x8x64xf32>, tensor<1x8x1xf32>)
  return
}

// -----

func.func @partial_lse_f32(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{result #1 must be ranked tensor of 32-bit float values}}
  %o, %l = hgc.partial_attention %q, %k, %k
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf16>)
  return
}

// -----

func.func @transfer_same_tier(%x: tensor<4xf32>) {
  // expected-error @+1 {{transfer from tier 'host' to itself}}
  %y, %t = hgc.transfer %x from host to host : tensor<4xf32>
  return
}

// -----

func.func @transfer_scalar(%x: f32) {
  // expected-error @+1 {{transfers ranked tensors or memrefs, got 'f32'}}
  %y, %t = hgc.transfer %x from host to device : f32
  return
}

// -----

func.func @transfer_result_type(%x: tensor<4xf32>) {
  // expected-error @+1 {{failed to verify that all of {source, result} have same type}}
  %y, %t = "hgc.transfer"(%x) <{from = #hgc.tier<host>, to = #hgc.tier<device>}>
      : (tensor<4xf32>) -> (tensor<8xf32>, !hgc.token)
  return
}

// -----

func.func @wait_without_token(%x: tensor<4xf32>) {
  // expected-error @+1 {{waits on no token}}
  %y = "hgc.wait"(%x) <{operandSegmentSizes = array<i32: 0, 1>}> : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @wait_result_types(%x: tensor<4xf32>, %t: !hgc.token) {
  // expected-error @+2 {{'hgc.wait' op inferred type(s) 'tensor<4xf32>' are incompatible with return type(s) of operation 'tensor<8xf32>'}}
  // expected-error @+1 {{'hgc.wait' op failed to infer returned types}}
  %y = "hgc.wait"(%t, %x) <{operandSegmentSizes = array<i32: 1, 1>}> : (!hgc.token, tensor<4xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @merge_one_partial(%o: tensor<1x8x64xf32>, %l: tensor<1x8xf32>) {
  // expected-error @+1 {{merges at least 2 partials, got 1}}
  %r, %rl = hgc.lse_merge %o lse %l : tensor<1x8x64xf32>, tensor<1x8xf32>
  return
}

// -----

func.func @merge_arity_mismatch(%o: tensor<1x8x64xf32>, %l: tensor<1x8xf32>) {
  // expected-error @+1 {{merges 2 outputs with 3 LSEs; each partial needs both}}
  %r, %rl = hgc.lse_merge %o, %o lse %l, %l, %l : tensor<1x8x64xf32>, tensor<1x8xf32>
  return
}

// -----

func.func @merge_output_types(%a: tensor<1x8x64xf32>, %b: tensor<1x8x64xf16>, %l: tensor<1x8xf32>) {
  // expected-error @+1 {{partial 1 output type 'tensor<1x8x64xf16>' differs from the result type 'tensor<1x8x64xf32>'}}
  %r:2 = "hgc.lse_merge"(%a, %b, %l, %l) <{operandSegmentSizes = array<i32: 2, 2>}>
      : (tensor<1x8x64xf32>, tensor<1x8x64xf16>, tensor<1x8xf32>, tensor<1x8xf32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @merge_lse_types(%o: tensor<1x8x64xf32>, %a: tensor<1x8xf32>, %b: tensor<2x8xf32>) {
  // expected-error @+1 {{partial 0 LSE type 'tensor<2x8xf32>' differs from the result LSE type 'tensor<1x8xf32>'}}
  %r:2 = "hgc.lse_merge"(%o, %o, %b, %a) <{operandSegmentSizes = array<i32: 2, 2>}>
      : (tensor<1x8x64xf32>, tensor<1x8x64xf32>, tensor<2x8xf32>, tensor<1x8xf32>)
      -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @merge_lse_shape(%o: tensor<1x8x64xf32>, %l: tensor<1x64xf32>) {
  // expected-error @+1 {{'lse' has shape [1, 64], expected [1, 8]}}
  %r, %rl = hgc.lse_merge %o, %o lse %l, %l : tensor<1x8x64xf32>, tensor<1x64xf32>
  return
}

// -----

func.func @merge_scalar_output(%o: tensor<f32>, %l: tensor<f32>) {
  // expected-error @+1 {{partial output needs at least one dimension}}
  %r, %rl = hgc.lse_merge %o, %o lse %l, %l : tensor<f32>, tensor<f32>
  return
}

// -----

func.func @summaries_block(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{block_size must be a positive power of two, got 3}}
  %lo, %hi, %n = hgc.kv_summaries %c tier host {block_size = 3 : i64}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<1xi32>
  return
}

// -----

func.func @summaries_tier(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{tier 'storage' is not in the placement}}
  %lo, %hi, %n = hgc.kv_summaries %c tier storage {block_size = 16 : i64,
      placement = #hgc.placement<window = 16, tiers = [device = dense, host = block_topk(budget = 2)]>}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<1xi32>
  return
}

// -----

func.func @summaries_element(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{key minimum element type 'f32' differs from the cache's 'f16'}}
  %lo, %hi, %n = hgc.kv_summaries %c tier host {block_size = 16 : i64}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1xi32>
  return
}

// -----

func.func @select_mass_on_blocks(%q: tensor<1x8x64xf32>, %lo: tensor<1x2x10x64xf32>) {
  // expected-error @+1 {{mass applies to token selections; block scores are upper bounds, not a softmax}}
  %i = hgc.select block_topk %q, %lo, %lo {k = 4 : i64, block_size = 16 : i64, mass = 0.9 : f64}
      : (tensor<1x8x64xf32>, tensor<1x2x10x64xf32>, tensor<1x2x10x64xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_mass_above_one(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xi8>, %s: tensor<1x2x100xf32>) {
  // expected-error @+1 {{mass must be in (0, 1], got 1.5}}
  %i = hgc.select quant_topk %q, %k, %s {k = 4 : i64, mass = 1.5 : f64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xi8>, tensor<1x2x100xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_mass_zero(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>) {
  // expected-error @+1 {{mass must be in (0, 1], got 0}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64, mass = 0.0 : f64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @codes_bits(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{bits must be 4 or 8, got 3}}
  %k, %s, %n = hgc.kv_key_codes %c tier host {bits = 3 : i64}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x64xi8>, tensor<1x8x?xf32>, tensor<1xi32>
  return
}

// -----

func.func @codes_tier(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{tier 'storage' is not in the placement}}
  %k, %s, %n = hgc.kv_key_codes %c tier storage {
      placement = #hgc.placement<window = 16, tiers = [device = dense, host = quant_topk(budget = 2)]>}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x64xi8>, tensor<1x8x?xf32>, tensor<1xi32>
  return
}

// -----

func.func @codes_head_dim(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{'codes' has shape [1, 8, ?, 32], expected [1, 8, ?, 64]}}
  %k, %s, %n = hgc.kv_key_codes %c tier host
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x32xi8>, tensor<1x8x?xf32>, tensor<1xi32>
  return
}

// -----

func.func @codes_scales_shape(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{'scales' has shape [1, 4, ?], expected [1, 8, ?]}}
  %k, %s, %n = hgc.kv_key_codes %c tier host
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x64xi8>, tensor<1x4x?xf32>, tensor<1xi32>
  return
}

// -----

func.func @codes_head_group(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{head group [6, 10) exceeds the cache's 8 KV heads}}
  %k, %s, %n = hgc.kv_key_codes %c tier host {first_head = 6 : i64}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x4x?x64xi8>, tensor<1x4x?xf32>, tensor<1xi32>
  return
}

// -----

func.func @codes_lengths(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{lengths}}
  %k, %s, %n = hgc.kv_key_codes %c tier host
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x64xi8>, tensor<1x8x?xf32>, tensor<2xi32>
  return
}

// -----

func.func @pq_codes_subspaces(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{subspaces must divide head_dim 64, got 12}}
  %k, %b, %n = hgc.kv_pq_codes %c tier host {subspaces = 12 : i64, centroids = 256 : i64}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x12xi8>, tensor<1x8x12x256x5xf32>, tensor<1xi32>
  return
}

// -----

func.func @pq_codes_width(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{pq codes of 1024 centroids must be i16, got 'i8'}}
  %k, %b, %n = hgc.kv_pq_codes %c tier host {subspaces = 16 : i64, centroids = 1024 : i64}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x16xi8>, tensor<1x8x16x1024x4xf32>, tensor<1xi32>
  return
}

// -----

func.func @pq_codes_books(%c: !hgc.kv_cache<8x64xf16>) {
  // expected-error @+1 {{'codebooks' has shape [1, 8, 16, 128, 4], expected [1, 8, 16, 256, 4]}}
  %k, %b, %n = hgc.kv_pq_codes %c tier host {subspaces = 16 : i64, centroids = 256 : i64}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x16xi8>, tensor<1x8x16x128x4xf32>, tensor<1xi32>
  return
}

// -----

func.func @select_pq_codes_type(%q: tensor<1x8x64xf32>, %c: tensor<1x2x100x16xf32>, %b: tensor<1x2x16x256x4xf32>) {
  // expected-error @+1 {{pq_topk codes must be i8 or i16, got 'f32'}}
  %i = hgc.select pq_topk %q, %c, %b {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x16xf32>, tensor<1x2x16x256x4xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_pq_head_dim(%q: tensor<1x8x64xf32>, %c: tensor<1x2x100x16xi8>, %b: tensor<1x2x16x256x8xf32>) {
  // expected-error @+1 {{pq sub-spaces of 8 x 16 do not make head_dim 64}}
  %i = hgc.select pq_topk %q, %c, %b {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x16xi8>, tensor<1x2x16x256x8xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_pq_books_subspaces(%q: tensor<1x8x64xf32>, %c: tensor<1x2x100x16xi8>, %b: tensor<1x2x8x256x8xf32>) {
  // expected-error @+1 {{'codebooks' has shape [1, 2, 8, 256, 8], expected [1, 2, 16, 256, 8]}}
  %i = hgc.select pq_topk %q, %c, %b {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x16xi8>, tensor<1x2x8x256x8xf32>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_channels_missing(%q: tensor<1x8x64xf32>, %k: tensor<1x2x64x100xf16>) {
  // expected-error @+1 {{'channel_topk' needs 'channels'}}
  %i = hgc.select channel_topk %q, %k {k = 4 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x64x100xf16>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_channels_on_exact(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf16>) {
  // expected-error @+1 {{'channels' applies to channel_topk only}}
  %i = hgc.select exact_topk %q, %k {k = 4 : i64, channels = 8 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf16>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_channels_wide(%q: tensor<1x8x64xf32>, %k: tensor<1x2x64x100xf16>) {
  // expected-error @+1 {{channels (96) must be at most head_dim (64)}}
  %i = hgc.select channel_topk %q, %k {k = 4 : i64, channels = 96 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x64x100xf16>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @select_coverage_shape(%q: tensor<1x8x64xf32>, %k: tensor<1x2x64x100xf16>) {
  // expected-error @+1 {{'coverage' has shape [1, 8], expected [1, 2]}}
  %i, %a = hgc.select channel_topk %q, %k {k = 4 : i64, channels = 8 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x64x100xf16>) -> (tensor<1x2x4xi32>, tensor<1x8xf32>)
  return
}

// -----

func.func @select_coverage_blocks(%q: tensor<1x8x64xf32>, %lo: tensor<1x2x10x64xf16>, %hi: tensor<1x2x10x64xf16>) {
  // expected-error @+1 {{coverage applies to token selections; block scores are upper bounds, not a softmax}}
  %i, %a = hgc.select block_topk %q, %lo, %hi {k = 4 : i64, block_size = 16 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x10x64xf16>, tensor<1x2x10x64xf16>) -> (tensor<1x2x4xi32>, tensor<1x2xf32>)
  return
}

// -----

func.func @value_mean_shape(%c: !hgc.kv_cache<2x64xf16>) {
  // expected-error @+1 {{'mean' has shape [1, 2, 32], expected [1, 2, 64]}}
  %m = hgc.kv_value_mean %c tier host : !hgc.kv_cache<2x64xf16> -> tensor<1x2x32xf32>
  return
}

// -----

func.func @value_mean_rank(%c: !hgc.kv_cache<2x64xf16>) {
  // expected-error @+1 {{mean must be [batch, kv_heads, head_dim], got 'tensor<2x64xf32>'}}
  %m = hgc.kv_value_mean %c tier host : !hgc.kv_cache<2x64xf16> -> tensor<2x64xf32>
  return
}

// -----

func.func @value_mean_head_group(%c: !hgc.kv_cache<2x64xf16>) {
  // expected-error @+1 {{head group [1, 3) exceeds the cache's 2 KV heads}}
  %m = hgc.kv_value_mean %c tier host {first_head = 1 : i64} : !hgc.kv_cache<2x64xf16> -> tensor<1x2x64xf32>
  return
}

// -----

func.func @value_mean_tier(%c: !hgc.kv_cache<2x64xf16>) {
  // expected-error @+1 {{tier 'storage' is not in the placement}}
  %m = hgc.kv_value_mean %c tier storage {placement = #hgc.placement<window = 8, tiers = [device = dense, host = dense]>}
      : !hgc.kv_cache<2x64xf16> -> tensor<1x2x64xf32>
  return
}

// -----

func.func @channel_keys_layout(%c: !hgc.kv_cache<2x64xf16>) {
  // expected-error @+1 {{'keys' has shape [1, 2, 100, 64], expected [1, 2, 64, 64]}}
  %k, %n = hgc.kv_channel_keys %c tier host
      : !hgc.kv_cache<2x64xf16> -> tensor<1x2x100x64xf16>, tensor<1xi32>
  return
}

// -----

func.func @channel_keys_type(%c: !hgc.kv_cache<2x64xf16>) {
  // expected-error @+1 {{keys element type 'f32' differs from the cache's 'f16'}}
  %k, %n = hgc.kv_channel_keys %c tier host
      : !hgc.kv_cache<2x64xf16> -> tensor<1x2x64x?xf32>, tensor<1xi32>
  return
}

// -----

func.func @mean_fold_coverage(%o: tensor<1x8x64xf32>, %l: tensor<1x8xf32>, %a: tensor<1x8xf32>, %m: tensor<1x2x64xf32>) {
  // expected-error @+1 {{'coverage' has shape [1, 8], expected [1, 2]}}
  %o2, %l2 = hgc.mean_fold %o, %l, %a, %m
      : (tensor<1x8x64xf32>, tensor<1x8xf32>, tensor<1x8xf32>, tensor<1x2x64xf32>) -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @mean_fold_groups(%o: tensor<1x8x64xf32>, %l: tensor<1x8xf32>, %a: tensor<1x3xf32>, %m: tensor<1x3x64xf32>) {
  // expected-error @+1 {{q_heads (8) must be a multiple of kv_heads (3)}}
  %o2, %l2 = hgc.mean_fold %o, %l, %a, %m
      : (tensor<1x8x64xf32>, tensor<1x8xf32>, tensor<1x3xf32>, tensor<1x3x64xf32>) -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}


// -----

func.func @select_channels_token_major(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf16>) {
  // expected-error @+1 {{input head_dim (100) must equal query head_dim (64)}}
  %i = hgc.select channel_topk %q, %k {k = 4 : i64, channels = 8 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf16>) -> tensor<1x2x4xi32>
  return
}

// -----

func.func @tail_summary_block(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>, %i: tensor<1x2x4xi32>) {
  // expected-error @+1 {{summary_block must be a positive power of two, got 12}}
  %o, %l = hgc.tail_estimate %q, %k, %k, %i {summary_block = 12 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x4xi32>) -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @tail_indices(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>, %i: tensor<1x4x4xi32>) {
  // expected-error @+1 {{'indices' has shape [1, 4, 4], expected [1, 2, ?]}}
  %o, %l = hgc.tail_estimate %q, %k, %k, %i
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>, tensor<1x4x4xi32>) -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}

// -----

func.func @tail_lse(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>, %i: tensor<1x2x4xi32>) {
  // expected-error @+1 {{'lse' has shape [1, 4], expected [1, 8]}}
  %o, %l = hgc.tail_estimate %q, %k, %k, %i
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x4xi32>) -> (tensor<1x8x64xf32>, tensor<1x4xf32>)
  return
}

// -----

func.func @tail_block_size(%q: tensor<1x8x64xf32>, %k: tensor<1x2x100x64xf32>, %i: tensor<1x2x4xi32>) {
  // expected-error @+1 {{block_size must be a positive power of two, got 3}}
  %o, %l = hgc.tail_estimate %q, %k, %k, %i {block_size = 3 : i64}
      : (tensor<1x8x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x100x64xf32>, tensor<1x2x4xi32>) -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return
}
