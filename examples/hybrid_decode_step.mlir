// One decode step of one Llama-style layer (32 query heads, 8 KV heads,
// head dim 128, f16 KV) in the two forms hgc works with.

// Model level: attention against a runtime-owned cache, annotated with an
// HGCA placement -- 4 sink tokens and a 1024-token recent window dense on the
// device, every other token on the host attended over a per-KV-head exact
// top-5%; KV heads 6 and 7 live entirely on the host and are attended exactly.
func.func @decode_step(%q: tensor<4x32x128xf32>,
                       %cache: !hgc.kv_cache<8x128xf16, max_tokens = 131072>)
    -> tensor<4x32x128xf32> {
  %o = hgc.decode_attention %q, %cache {
      placement = #hgc.placement<sink = 4, window = 1024,
          tiers = [device = dense, host = exact_topk(budget = 0.05)],
          heads = [[6, 7] = <tiers = [host = dense]>]>}
      : tensor<4x32x128xf32>, !hgc.kv_cache<8x128xf16, max_tokens = 131072>
      -> tensor<4x32x128xf32>
  return %o : tensor<4x32x128xf32>
}

// Split level (what the split passes produce for the default heads): a dense
// device partial, a host selection and sparse partial that run concurrently,
// the transfers between them, and the exact log-sum-exp merge.
func.func @decode_step_split(%q: tensor<4x32x128xf32>,
                             %cache: !hgc.kv_cache<8x128xf16>)
    -> tensor<4x32x128xf32> {
  // Query to the host first, so host selection overlaps the device partial.
  %q_host, %q_ready = hgc.transfer %q from device to host : tensor<4x32x128xf32>

  // Device: sinks + recent window, dense.
  %kd, %vd, %nd = hgc.kv_view %cache tier device : !hgc.kv_cache<8x128xf16>
      -> tensor<4x8x?x128xf16>, tensor<4x8x?x128xf16>, tensor<4xi32>
  %od, %ld = hgc.partial_attention %q, %kd, %vd lengths(%nd)
      : (tensor<4x32x128xf32>, tensor<4x8x?x128xf16>, tensor<4x8x?x128xf16>,
         tensor<4xi32>) -> (tensor<4x32x128xf32>, tensor<4x32xf32>)

  // Host: exact top-k per KV head (max over its 4 query heads), then attend
  // the gathered tokens.
  %qh = hgc.wait %q_ready ready %q_host : tensor<4x32x128xf32>
  %kh, %vh, %nh = hgc.kv_view %cache tier host : !hgc.kv_cache<8x128xf16>
      -> tensor<4x8x?x128xf16>, tensor<4x8x?x128xf16>, tensor<4xi32>
  %idx = hgc.select exact_topk %qh, %kh lengths(%nh) {k = 2048 : i64}
      : (tensor<4x32x128xf32>, tensor<4x8x?x128xf16>, tensor<4xi32>)
      -> tensor<4x8x2048xi32>
  %oh, %lh = hgc.partial_attention %qh, %kh, %vh indices(%idx) lengths(%nh)
      : (tensor<4x32x128xf32>, tensor<4x8x?x128xf16>, tensor<4x8x?x128xf16>,
         tensor<4x8x2048xi32>, tensor<4xi32>)
      -> (tensor<4x32x128xf32>, tensor<4x32xf32>)

  // Host partial back to the device, merged exactly.
  %oh_dev, %o_ready = hgc.transfer %oh from host to device : tensor<4x32x128xf32>
  %lh_dev, %l_ready = hgc.transfer %lh from host to device : tensor<4x32xf32>
  %oh2, %lh2 = hgc.wait %o_ready, %l_ready ready %oh_dev, %lh_dev
      : tensor<4x32x128xf32>, tensor<4x32xf32>
  %o, %lse = hgc.lse_merge %od, %oh2 lse %ld, %lh2
      : tensor<4x32x128xf32>, tensor<4x32xf32>
  return %o : tensor<4x32x128xf32>
}
