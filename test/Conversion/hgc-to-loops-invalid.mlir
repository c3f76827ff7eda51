// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops -verify-diagnostics

func.func @key_codes_of_an_unbound_cache(%c: !hgc.kv_cache<2x8xf32>)
    -> tensor<1x2x?x8xi8> {
  // expected-error @+2 {{reads a runtime-owned cache; the host lowering resolves only caches bound with hgc.bind_kv}}
  // expected-error @+1 {{failed to legalize operation 'hgc.kv_key_codes' that was explicitly marked illegal}}
  %codes, %scales, %n = hgc.kv_key_codes %c tier host {placement = #hgc.placement<window = 4,
      tiers = [device = dense, host = quant_topk(budget = 2)]>}
      : !hgc.kv_cache<2x8xf32> -> tensor<1x2x?x8xi8>, tensor<1x2x?xf32>, tensor<1xi32>
  return %codes : tensor<1x2x?x8xi8>
}

// -----

func.func @pq_codes_not_bound(%k: tensor<1x2x100x8xf32>) -> tensor<1x2x?x4xi8> {
  %c = hgc.bind_kv %k, %k : tensor<1x2x100x8xf32>, tensor<1x2x100x8xf32> -> !hgc.kv_cache<2x8xf32>
  // expected-error @+2 {{needs product-quantized codes bound with the cache (hgc.bind_kv ... pq(codes, codebooks), made by hgc_rt_pq_fit and hgc_rt_pq_encode)}}
  // expected-error @+1 {{failed to legalize operation 'hgc.kv_pq_codes' that was explicitly marked illegal}}
  %codes, %books, %n = hgc.kv_pq_codes %c tier host {subspaces = 4 : i64, centroids = 16 : i64,
      placement = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = pq_topk(budget = 2, subspaces = 4, centroids = 16)]>}
      : !hgc.kv_cache<2x8xf32> -> tensor<1x2x?x4xi8>, tensor<1x2x4x16x2xf32>, tensor<1xi32>
  return %codes : tensor<1x2x?x4xi8>
}

// -----

func.func @escaping_token(%x: tensor<4xf32>) -> !hgc.token {
  // expected-error @+3 {{uses an hgc.token the host fallback cannot provide}}
  // expected-error @+1 {{failed to legalize operation 'hgc.transfer' that was explicitly marked illegal}}
  %y, %t = hgc.transfer %x from device to host : tensor<4xf32>
  return %t : !hgc.token
}

// -----

func.func @runtime_cache(%c: !hgc.kv_cache<2x8xf32>) -> tensor<?x2x?x8xf32> {
  // expected-error @+2 {{reads a runtime-owned cache; the host lowering resolves only caches bound with hgc.bind_kv}}
  // expected-error @+1 {{failed to legalize operation 'hgc.kv_view' that was explicitly marked illegal}}
  %k, %v, %n = hgc.kv_view %c tier device {placement = #hgc.placement<tiers = [device = dense]>}
      : !hgc.kv_cache<2x8xf32> -> tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?xi32>
  return %k : tensor<?x2x?x8xf32>
}

// -----

func.func @unplaced_view(%k: tensor<1x2x4x8xf32>) -> tensor<1x2x?x8xf32> {
  %c = hgc.bind_kv %k, %k : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32> -> !hgc.kv_cache<2x8xf32>
  // expected-error @+2 {{needs a placement to slice plain KV tensors}}
  // expected-error @+1 {{failed to legalize operation 'hgc.kv_view' that was explicitly marked illegal}}
  %kk, %v, %n = hgc.kv_view %c tier device : !hgc.kv_cache<2x8xf32>
      -> tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1xi32>
  return %kk : tensor<1x2x?x8xf32>
}

// -----

func.func @model_level(%q: tensor<1x4x8xf32>, %c: !hgc.kv_cache<2x8xf32>) -> tensor<1x4x8xf32> {
  // expected-error @+2 {{is not lowered to loops directly; run the hgc-hybrid-pipeline (bind, place, split) first}}
  // expected-error @+1 {{failed to legalize operation 'hgc.decode_attention' that was explicitly marked illegal}}
  %o = hgc.decode_attention %q, %c : tensor<1x4x8xf32>, !hgc.kv_cache<2x8xf32> -> tensor<1x4x8xf32>
  return %o : tensor<1x4x8xf32>
}

// -----

func.func @summaries_of_hot_set(%k: tensor<1x2x40x8xf32>) -> tensor<1x2x?x8xf32> {
  %c = hgc.bind_kv %k, %k : tensor<1x2x40x8xf32>, tensor<1x2x40x8xf32> -> !hgc.kv_cache<2x8xf32>
  // expected-error @+2 {{summarizes one token range; the first of several tiers holds the sinks and the window apart}}
  // expected-error @+1 {{failed to legalize operation 'hgc.kv_summaries' that was explicitly marked illegal}}
  %lo, %hi, %n = hgc.kv_summaries %c tier device {block_size = 16 : i64,
      placement = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = block_topk(budget = 1)]>}
      : !hgc.kv_cache<2x8xf32> -> tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, tensor<1xi32>
  return %lo : tensor<1x2x?x8xf32>
}
