// RUN: hgc-opt %s -split-input-file -hgc-split-attention -verify-diagnostics

func.func @quant_topk(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>)
    -> tensor<1x32x128xf32> {
  // expected-error @+1 {{cannot split tier 'host': 'quant_topk' needs quantized keys from the KV runtime}}
  %o = hgc.decode_attention %q, %c {placement = #hgc.placement<window = 64,
      tiers = [device = dense, host = quant_topk(budget = 8, bits = 8)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}
