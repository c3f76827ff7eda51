// RUN: hgc-opt %s -split-input-file -verify-diagnostics

func.func @sequences_not_rank_one(%handle: i64, %seqs: tensor<2x2xi64>, %layer: i32) {
  // expected-error @+1 {{sequences must be one id per sequence [batch], got rank 2}}
  %kv = hgc.runtime_kv %handle[%seqs] layer %layer : tensor<2x2xi64> -> !hgc.kv_cache<2x64xf16>
  return
}

// -----

func.func @sequences_not_i64(%handle: i64, %seqs: tensor<2xi32>, %layer: i32) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 64-bit signless integer values}}
  %kv = hgc.runtime_kv %handle[%seqs] layer %layer : tensor<2xi32> -> !hgc.kv_cache<2x64xf16>
  return
}
