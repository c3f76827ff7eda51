// One decode step over a 128K-token f16 cache bound with an engine's
// channel-major keys and per-block value sums (64 tokens): what sparf reads.
func.func @main(%q: tensor<1x32x1x128xf16>, %k: tensor<1x8x131072x128xf16>,
                %v: tensor<1x8x131072x128xf16>, %kt: tensor<1x8x128x131072xf16>,
                %s: tensor<1x8x2048x128xf32>) -> tensor<1x32x128xf16> {
  %cache = hgc.bind_kv %k, %v channel_keys(%kt : tensor<1x8x128x131072xf16>)
      value_sums(%s : tensor<1x8x2048x128xf32>) {value_block = 64 : i64}
      : tensor<1x8x131072x128xf16>, tensor<1x8x131072x128xf16> -> !hgc.kv_cache<8x128xf16>
  %q3 = tensor.collapse_shape %q [[0], [1], [2, 3]] : tensor<1x32x1x128xf16> into tensor<1x32x128xf16>
  %o = hgc.decode_attention %q3, %cache : tensor<1x32x128xf16>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf16>
  return %o : tensor<1x32x128xf16>
}
