// RUN: hgc-opt %s -split-input-file -verify-diagnostics

func.func @paged_layout(%k: tensor<?x16x8x64xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{kv_layout must be "nhd" or "hnd", got "bshd"}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) block_table(%t : tensor<2x4xi32>) {kv_layout = "bshd"} : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_types(%k: tensor<?x16x8x64xf16>, %v: tensor<?x32x8x64xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{key and value caches must have one type, got 'tensor<?x16x8x64xf16>' and 'tensor<?x32x8x64xf16>'}}
  %c = hgc.bind_kv %k, %v lengths(%n : tensor<2xi32>) block_table(%t : tensor<2x4xi32>) : tensor<?x16x8x64xf16>, tensor<?x32x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_element(%k: tensor<?x16x8x64xf32>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{key element type 'f32' differs from the cache's 'f16'}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) block_table(%t : tensor<2x4xi32>) : tensor<?x16x8x64xf32>, tensor<?x16x8x64xf32> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

// Heads-major caches put the heads before the block's tokens.
func.func @paged_shape(%k: tensor<?x16x8x64xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{'key cache [num_blocks, kv_heads, block_size, head_dim]' has shape [?, 16, 8, 64], expected [?, 8, ?, 64]}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) block_table(%t : tensor<2x4xi32>) {kv_layout = "hnd"} : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_dynamic_block(%k: tensor<?x?x8x64xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{needs a static block size}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) block_table(%t : tensor<2x4xi32>) : tensor<?x?x8x64xf16>, tensor<?x?x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_block_power(%k: tensor<?x24x8x64xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{block size must be a positive power of two, got 24}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) block_table(%t : tensor<2x4xi32>) : tensor<?x24x8x64xf16>, tensor<?x24x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_lengths(%k: tensor<?x16x8x64xf16>, %t: tensor<2x4xi32>) {
  // expected-error @+1 {{with a block table needs lengths}}
  %c = hgc.bind_kv %k, %k block_table(%t : tensor<2x4xi32>) : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_table_rank(%k: tensor<?x16x8x64xf16>, %t: tensor<8xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{block_table must be [batch, max_blocks], got rank 1}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) block_table(%t : tensor<8xi32>) : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_batch(%k: tensor<?x16x8x64xf16>, %t: tensor<2x4xi32>, %n: tensor<3xi32>) {
  // expected-error @+1 {{'lengths' has shape [3], expected [2]}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<3xi32>) block_table(%t : tensor<2x4xi32>) : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_max_tokens(%k: tensor<?x16x8x64xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{a paged cache takes no max_tokens}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) block_table(%t : tensor<2x4xi32>) : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16, max_tokens = 64>
  return
}

// -----

func.func @paged_summaries_batch(%k: tensor<?x16x8x64xf16>, %s: tensor<3x8x4x64xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{'key minimum' has shape [3, 8, 4, 64], expected [2, 8, ?, 64]}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) summaries(%s, %s : tensor<3x8x4x64xf16>, tensor<3x8x4x64xf16>) block_table(%t : tensor<2x4xi32>) {summary_block = 16 : i64} : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_summaries_element(%k: tensor<?x16x8x64xf16>, %s: tensor<2x8x4x64xf32>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{key minimum element type 'f32' differs from the cache's 'f16'}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) summaries(%s, %s : tensor<2x8x4x64xf32>, tensor<2x8x4x64xf32>) block_table(%t : tensor<2x4xi32>) {summary_block = 16 : i64} : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_summaries_block(%k: tensor<?x16x8x64xf16>, %s: tensor<2x8x4x64xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{summary_block must be a positive power of two, got 12}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) summaries(%s, %s : tensor<2x8x4x64xf16>, tensor<2x8x4x64xf16>) block_table(%t : tensor<2x4xi32>) {summary_block = 12 : i64} : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_summaries_one(%k: tensor<?x16x8x64xf16>, %s: tensor<2x8x4x64xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{summaries need both the key minimum and maximum}}
  %c = "hgc.bind_kv"(%k, %k, %n, %s, %t) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1>,
      summary_block = 16 : i64}>
      : (tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16>, tensor<2xi32>, tensor<2x8x4x64xf16>, tensor<2x4xi32>)
      -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_summaries_no_block(%k: tensor<?x16x8x64xf16>, %s: tensor<2x8x4x64xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{summaries and summary_block go together}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) summaries(%s, %s : tensor<2x8x4x64xf16>, tensor<2x8x4x64xf16>) block_table(%t : tensor<2x4xi32>) : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_summaries_types(%k: tensor<?x16x8x64xf16>, %s: tensor<2x8x4x64xf16>, %r: tensor<2x8x5x64xf16>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{key minimum and maximum must have one type}}
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>) summaries(%s, %r : tensor<2x8x4x64xf16>, tensor<2x8x5x64xf16>) block_table(%t : tensor<2x4xi32>) {summary_block = 16 : i64} : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @layout_without_table(%k: tensor<1x8x4x64xf16>) {
  // expected-error @+1 {{kv_layout needs a block_table}}
  %c = hgc.bind_kv %k, %k {kv_layout = "hnd"} : tensor<1x8x4x64xf16>, tensor<1x8x4x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_codes(%k: tensor<?x16x8x64xf16>, %c: tensor<3x8x64x64xi8>, %s: tensor<3x8x64xf32>, %t: tensor<2x4xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{'key codes' has shape [3, 8, 64, 64], expected [2, 8, ?, 64]}}
  %r = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>)
      codes(%c, %s : tensor<3x8x64x64xi8>, tensor<3x8x64xf32>)
      block_table(%t : tensor<2x4xi32>)
      : tensor<?x16x8x64xf16>, tensor<?x16x8x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}

// -----

func.func @paged_pq_batch(%kc: tensor<?x8x16x64xf16>, %t: tensor<2x?xi32>,
    %n: tensor<2xi32>, %c: tensor<3x8x?x16xi8>, %b: tensor<3x8x16x16x4xf32>) {
  // expected-error @+1 {{'pq codes' has shape [3, 8, ?, 16], expected [2, 8, ?, 16]}}
  %cache = hgc.bind_kv %kc, %kc lengths(%n : tensor<2xi32>)
      pq(%c, %b : tensor<3x8x?x16xi8>, tensor<3x8x16x16x4xf32>)
      block_table(%t : tensor<2x?xi32>) {kv_layout = "hnd"}
      : tensor<?x8x16x64xf16>, tensor<?x8x16x64xf16> -> !hgc.kv_cache<8x64xf16>
  return
}
