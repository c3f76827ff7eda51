// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops -verify-diagnostics

// The runtime has no cxl tier.
func.func @cxl(%handle: i64, %seqs: tensor<?xi64>, %layer: i32) -> tensor<?x2x?x64xf16> {
  %kv = hgc.runtime_kv %handle[%seqs] layer %layer : tensor<?xi64> -> !hgc.kv_cache<2x64xf16>
  // expected-error @+2 {{reads tier 'cxl', which the KV runtime does not have}}
  // expected-error @+1 {{failed to legalize operation 'hgc.kv_view' that was explicitly marked illegal}}
  %k, %v, %n = hgc.kv_view %kv tier cxl : !hgc.kv_cache<2x64xf16> -> tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?xi32>
  return %k : tensor<?x2x?x64xf16>
}
