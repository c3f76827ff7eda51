// One decode step of one Llama-style layer as an exporter writes it with ONNX
// Attention semantics: 1 new token, 8 query heads over 2 KV heads (GQA),
// head dim 64, 255 past tokens, causal.
func.func @main(%q: tensor<1x8x1x64xf32>, %k: tensor<1x2x1x64xf32>,
                %v: tensor<1x2x1x64xf32>, %past_k: tensor<1x2x255x64xf32>,
                %past_v: tensor<1x2x255x64xf32>) -> tensor<1x8x1x64xf32> {
  %y = hgc.attention %q, %k, %v
      past(%past_k, %past_v : tensor<1x2x255x64xf32>, tensor<1x2x255x64xf32>)
      {is_causal = true}
      : tensor<1x8x1x64xf32>, tensor<1x2x1x64xf32>, tensor<1x2x1x64xf32>
      -> tensor<1x8x1x64xf32>
  return %y : tensor<1x8x1x64xf32>
}
