// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops -verify-diagnostics

func.func @block_select(%q: tensor<1x4x8xf32>, %a: tensor<1x2x4x8xf32>) -> tensor<1x2x2xi32> {
  // expected-error @+1 {{lowering of 'block_topk' needs block summaries or quantized keys from the KV runtime}}
  %i = hgc.select block_topk %q, %a, %a {k = 2 : i64, block_size = 16 : i64}
      : (tensor<1x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x2xi32>
  return %i : tensor<1x2x2xi32>
}

// -----

func.func @escaping_token(%x: tensor<4xf32>) -> !hgc.token {
  // expected-error @+2 {{uses an hgc.token the host fallback cannot provide}}
  %y, %t = hgc.transfer %x from device to host : tensor<4xf32>
  return %t : !hgc.token
}
