// RUN: hgc-opt %s -split-input-file | hgc-opt -split-input-file | FileCheck %s
// RUN: hgc-opt %s -split-input-file -mlir-print-op-generic \
// RUN:   | hgc-opt -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @attention_4d
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x8x4x64xf32>, %[[K:[a-z0-9_]+]]: tensor<2x2x6x64xf32>, %[[V:[a-z0-9_]+]]: tensor<2x2x6x32xf32>)
// CHECK: hgc.attention %[[Q]], %[[K]], %[[V]] :
// CHECK-SAME: tensor<2x8x4x64xf32>, tensor<2x2x6x64xf32>, tensor<2x2x6x32xf32> -> tensor<2x8x4x32xf32>
func.func @attention_4d(%q: tensor<2x8x4x64xf32>, %k: tensor<2x2x6x64xf32>,
                        %v: tensor<2x2x6x32xf32>) -> tensor<2x8x4x32xf32> {
  %y = hgc.attention %q, %k, %v
      : tensor<2x8x4x64xf32>, tensor<2x2x6x64xf32>, tensor<2x2x6x32xf32>
      -> tensor<2x8x4x32xf32>
  return %y : tensor<2x8x4x32xf32>
}

// -----

// 3-D inputs carry their head counts; every ONNX attribute round-trips.
// CHECK-LABEL: func.func @attention_3d_attrs
// CHECK: hgc.attention %{{.+}}, %{{.+}}, %{{.+}} {is_causal = true, kv_num_heads = 2 : i64,
// CHECK-SAME: q_num_heads = 4 : i64, qk_matmul_output_mode = 2 : i64, scale = 1.250000e-01 : f32,
// CHECK-SAME: softcap = 3.000000e+01 : f32, softmax_precision = 1 : i64}
// CHECK-SAME: : tensor<1x3x256xf16>, tensor<1x5x128xf16>, tensor<1x5x128xf16> -> tensor<1x3x256xf16>
func.func @attention_3d_attrs(%q: tensor<1x3x256xf16>, %k: tensor<1x5x128xf16>,
                              %v: tensor<1x5x128xf16>) -> tensor<1x3x256xf16> {
  %y = hgc.attention %q, %k, %v {q_num_heads = 4 : i64, kv_num_heads = 2 : i64,
      scale = 0.125 : f32, is_causal = true, softcap = 30.0 : f32,
      qk_matmul_output_mode = 2 : i64, softmax_precision = 1 : i64}
      : tensor<1x3x256xf16>, tensor<1x5x128xf16>, tensor<1x5x128xf16>
      -> tensor<1x3x256xf16>
  return %y : tensor<1x3x256xf16>
}

// -----

// Past KV, present KV, a broadcast boolean mask and the QK output.
// CHECK-LABEL: func.func @attention_past_present
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<1x2x7x16xf32>, %[[PV:[a-z0-9]+]]: tensor<1x2x7x16xf32>
// CHECK: = hgc.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%{{.+}} : tensor<1x8xi1>)
// CHECK-SAME: past(%[[PK]], %[[PV]] : tensor<1x2x7x16xf32>, tensor<1x2x7x16xf32>)
// CHECK-SAME: -> tensor<1x4x1x16xf32> present(tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) qk(tensor<1x4x1x8xf32>)
func.func @attention_past_present(%q: tensor<1x4x1x16xf32>,
    %k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %mask: tensor<1x8xi1>,
    %pk: tensor<1x2x7x16xf32>, %pv: tensor<1x2x7x16xf32>)
    -> (tensor<1x4x1x16xf32>, tensor<1x2x8x16xf32>) {
  %y, %present_k, %present_v, %qk = hgc.attention %q, %k, %v
      mask(%mask : tensor<1x8xi1>)
      past(%pk, %pv : tensor<1x2x7x16xf32>, tensor<1x2x7x16xf32>)
      : tensor<1x4x1x16xf32>, tensor<1x2x1x16xf32>, tensor<1x2x1x16xf32>
      -> tensor<1x4x1x16xf32>
         present(tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
         qk(tensor<1x4x1x8xf32>)
  return %y, %present_k : tensor<1x4x1x16xf32>, tensor<1x2x8x16xf32>
}

// -----

// Opset 24 padding lengths and a float mask with dynamic dimensions.
// CHECK-LABEL: func.func @attention_nonpad_dynamic
// CHECK: hgc.attention %{{.+}}, %{{.+}}, %{{.+}} mask(%{{.+}} : tensor<?x1x?x?xf32>)
// CHECK-SAME: nonpad_kv_seqlen(%{{.+}} : tensor<?xi64>)
func.func @attention_nonpad_dynamic(%q: tensor<?x4x?x16xf32>,
    %k: tensor<?x4x?x16xf32>, %v: tensor<?x4x?x16xf32>,
    %mask: tensor<?x1x?x?xf32>, %lens: tensor<?xi64>) -> tensor<?x4x?x16xf32> {
  %y = hgc.attention %q, %k, %v mask(%mask : tensor<?x1x?x?xf32>)
      nonpad_kv_seqlen(%lens : tensor<?xi64>)
      : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
      -> tensor<?x4x?x16xf32>
  return %y : tensor<?x4x?x16xf32>
}

// -----

// CHECK-LABEL: func.func @decode_attention_exact
// CHECK-SAME: %[[C:[a-z0-9_]+]]: !hgc.kv_cache<8x128xf16>
// CHECK: hgc.decode_attention %{{.+}}, %[[C]] : tensor<2x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<2x32x128xf32>
func.func @decode_attention_exact(%q: tensor<2x32x128xf32>,
    %cache: !hgc.kv_cache<8x128xf16>) -> tensor<2x32x128xf32> {
  %o = hgc.decode_attention %q, %cache
      : tensor<2x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<2x32x128xf32>
  return %o : tensor<2x32x128xf32>
}

// -----

// CHECK-LABEL: func.func @decode_attention_hgca
// CHECK: hgc.decode_attention
// CHECK-SAME: placement = #hgc.placement<sink = 4, window = 1024, tiers = [device = dense, host = exact_topk(budget = 0.05)],
// CHECK-SAME: heads = {{\[\[}}6, 7] = <tiers = [host = dense]>]>
// CHECK-SAME: scale = 0.0883883461 : f32, softcap = 5.000000e+01 : f32
// CHECK-SAME: !hgc.kv_cache<8x128xbf16, page_size = 32, max_tokens = 131072>
func.func @decode_attention_hgca(%q: tensor<1x32x128xbf16>,
    %cache: !hgc.kv_cache<8x128xbf16, page_size = 32, max_tokens = 131072>)
    -> tensor<1x32x128xbf16> {
  %o = hgc.decode_attention %q, %cache {
      placement = #hgc.placement<sink = 4, window = 1024,
                                 tiers = [device = dense, host = exact_topk(budget = 0.05)],
                                 heads = [[6, 7] = <tiers = [host = dense]>]>,
      scale = 0.0883883461 : f32, softcap = 50.0 : f32}
      : tensor<1x32x128xbf16>,
        !hgc.kv_cache<8x128xbf16, page_size = 32, max_tokens = 131072>
      -> tensor<1x32x128xbf16>
  return %o : tensor<1x32x128xbf16>
}

// -----

// CHECK-LABEL: func.func @bind_kv
// CHECK: hgc.bind_kv %{{.+}}, %{{.+}} lengths(%{{.+}} : tensor<2xi32>) : tensor<2x8x?x64xbf16>, tensor<2x8x?x64xbf16> -> !hgc.kv_cache<8x64xbf16>
// CHECK: hgc.kv_view %{{.+}} tier host {placement = #hgc.placement<window = 16, tiers = [device = dense, host = exact_topk(budget = 4)]>}
func.func @bind_kv(%k: tensor<2x8x?x64xbf16>, %n: tensor<2xi32>) -> tensor<2x8x?x64xbf16> {
  %c = hgc.bind_kv %k, %k lengths(%n : tensor<2xi32>)
      : tensor<2x8x?x64xbf16>, tensor<2x8x?x64xbf16> -> !hgc.kv_cache<8x64xbf16>
  %kh, %vh, %nh = hgc.kv_view %c tier host {placement = #hgc.placement<window = 16,
      tiers = [device = dense, host = exact_topk(budget = 4)]>}
      : !hgc.kv_cache<8x64xbf16> -> tensor<2x8x?x64xbf16>, tensor<2x8x?x64xbf16>, tensor<2xi32>
  return %kh : tensor<2x8x?x64xbf16>
}

// -----

// Paged KV as engines keep it: caches of 16-token blocks, a block table.
// CHECK-LABEL: func.func @bind_paged
// CHECK: hgc.bind_kv %{{.+}}, %{{.+}} lengths(%{{.+}} : tensor<?xi32>) block_table(%{{.+}} : tensor<?x?xi32>) {kv_layout = "hnd"} : tensor<?x8x16x64xf16>, tensor<?x8x16x64xf16> -> !hgc.kv_cache<8x64xf16>
func.func @bind_paged(%kc: tensor<?x8x16x64xf16>, %t: tensor<?x?xi32>,
    %n: tensor<?xi32>) -> !hgc.kv_cache<8x64xf16> {
  %c = hgc.bind_kv %kc, %kc lengths(%n : tensor<?xi32>)
      block_table(%t : tensor<?x?xi32>) {kv_layout = "hnd"}
      : tensor<?x8x16x64xf16>, tensor<?x8x16x64xf16> -> !hgc.kv_cache<8x64xf16>
  return %c : !hgc.kv_cache<8x64xf16>
}

// -----

// A cache bound with an engine's per-token int8 key codes, and a tier's
// codes read through hgc.kv_key_codes.
// CHECK-LABEL: func.func @bind_codes
// CHECK: %[[C:.+]] = hgc.bind_kv %{{.+}}, %{{.+}} codes(%{{.+}}, %{{.+}} : tensor<1x8x40x64xi8>, tensor<1x8x40xf32>) : tensor<1x8x40x64xf16>, tensor<1x8x40x64xf16> -> !hgc.kv_cache<8x64xf16>
// CHECK: hgc.kv_key_codes %[[C]] tier host {bits = 4 : i64, first_head = 2 : i64}
// CHECK-SAME: : !hgc.kv_cache<8x64xf16> -> tensor<1x2x?x64xi8>, tensor<1x2x?xf32>, tensor<1xi32>
func.func @bind_codes(%k: tensor<1x8x40x64xf16>, %c: tensor<1x8x40x64xi8>,
                      %s: tensor<1x8x40xf32>) -> tensor<1x2x?x64xi8> {
  %cache = hgc.bind_kv %k, %k codes(%c, %s : tensor<1x8x40x64xi8>, tensor<1x8x40xf32>)
      : tensor<1x8x40x64xf16>, tensor<1x8x40x64xf16> -> !hgc.kv_cache<8x64xf16>
  %codes, %scales, %n = hgc.kv_key_codes %cache tier host {bits = 4 : i64, first_head = 2 : i64}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x2x?x64xi8>, tensor<1x2x?xf32>, tensor<1xi32>
  return %codes : tensor<1x2x?x64xi8>
}

// -----

// A cache bound with an engine's product-quantized keys.
// CHECK-LABEL: func.func @bind_pq
// CHECK: %[[C:.+]] = hgc.bind_kv %{{.+}}, %{{.+}} pq(%{{.+}}, %{{.+}} : tensor<1x8x40x16xi8>, tensor<1x8x16x256x4xf32>)
// CHECK: hgc.kv_pq_codes %[[C]] tier host {centroids = 256 : i64, subspaces = 16 : i64}
func.func @bind_pq(%k: tensor<1x8x40x64xf16>, %c: tensor<1x8x40x16xi8>,
                   %b: tensor<1x8x16x256x4xf32>) -> tensor<1x8x?x16xi8> {
  %cache = hgc.bind_kv %k, %k pq(%c, %b : tensor<1x8x40x16xi8>, tensor<1x8x16x256x4xf32>)
      : tensor<1x8x40x64xf16>, tensor<1x8x40x64xf16> -> !hgc.kv_cache<8x64xf16>
  %codes, %books, %n = hgc.kv_pq_codes %cache tier host {subspaces = 16 : i64, centroids = 256 : i64}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x16xi8>, tensor<1x8x16x256x4xf32>, tensor<1xi32>
  return %codes : tensor<1x8x?x16xi8>
}

// -----

// Paged KV with product-quantized keys per sequence in token order, as the
// KV runtime keeps them.
// CHECK-LABEL: func.func @bind_paged_pq
// CHECK: hgc.bind_kv %{{.+}}, %{{.+}} lengths(%{{.+}} : tensor<2xi32>) pq(%{{.+}}, %{{.+}} : tensor<2x8x?x16xi16>, tensor<2x8x16x512x4xf32>) block_table(%{{.+}} : tensor<2x?xi32>)
func.func @bind_paged_pq(%kc: tensor<?x8x16x64xf16>, %t: tensor<2x?xi32>,
    %n: tensor<2xi32>, %c: tensor<2x8x?x16xi16>,
    %b: tensor<2x8x16x512x4xf32>) -> !hgc.kv_cache<8x64xf16> {
  %cache = hgc.bind_kv %kc, %kc lengths(%n : tensor<2xi32>)
      pq(%c, %b : tensor<2x8x?x16xi16>, tensor<2x8x16x512x4xf32>)
      block_table(%t : tensor<2x?xi32>) {kv_layout = "hnd"}
      : tensor<?x8x16x64xf16>, tensor<?x8x16x64xf16> -> !hgc.kv_cache<8x64xf16>
  return %cache : !hgc.kv_cache<8x64xf16>
}

// -----

// A later step's candidates, selected ahead from a predicted query.
// CHECK-LABEL: func.func @preselect
// CHECK: hgc.preselect %{{.+}}, %{{.+}} {placement = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = block_topk(budget = 4, block = 16)]>}
// CHECK-SAME: : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x8x4xi32>
func.func @preselect(%p: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>) -> tensor<1x8x4xi32> {
  %i = hgc.preselect %p, %c
      {placement = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = block_topk(budget = 4, block = 16)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x8x4xi32>
  return %i : tensor<1x8x4xi32>
}

// -----

// Candidates selected ahead from another query, attended by the step.
// CHECK-LABEL: func.func @decode_preselected
// CHECK: hgc.decode_attention %{{.+}}, %{{.+}} preselected(%{{.+}} : tensor<1x8x4xi32>)
func.func @decode_preselected(%q: tensor<1x32x128xf32>, %c: !hgc.kv_cache<8x128xf16>,
                              %i: tensor<1x8x4xi32>) -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c preselected(%i : tensor<1x8x4xi32>)
      {placement = #hgc.placement<window = 8, tiers = [device = dense, host = exact_topk(budget = 4)]>}
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// -----

// A cache bound with an engine's channel-major keys and per-block value
// sums; a tier's channel-major keys, mean value and SparF's fold.
// CHECK-LABEL: func.func @bind_channel_keys_and_value_sums
// CHECK: %[[C:.+]] = hgc.bind_kv %{{.+}}, %{{.+}} channel_keys(%{{.+}} : tensor<1x8x64x40xf16>) value_sums(%{{.+}} : tensor<1x8x3x64xf32>) {value_block = 16 : i64}
// CHECK: hgc.kv_channel_keys %[[C]] tier host {{.*}}-> tensor<1x8x64x?xf16>, tensor<1xi32>
// CHECK: %[[M:.+]] = hgc.kv_value_mean %[[C]] tier host {{.*}}-> tensor<1x8x64xf32>
// CHECK: hgc.mean_fold %{{.+}}, %{{.+}}, %{{.+}}, %[[M]]
func.func @bind_channel_keys_and_value_sums(
    %k: tensor<1x8x40x64xf16>, %c: tensor<1x8x64x40xf16>,
    %s: tensor<1x8x3x64xf32>, %o: tensor<1x32x64xf32>, %l: tensor<1x32xf32>,
    %a: tensor<1x8xf32>) -> tensor<1x32x64xf32> {
  %cache = hgc.bind_kv %k, %k channel_keys(%c : tensor<1x8x64x40xf16>)
      value_sums(%s : tensor<1x8x3x64xf32>) {value_block = 16 : i64}
      : tensor<1x8x40x64xf16>, tensor<1x8x40x64xf16> -> !hgc.kv_cache<8x64xf16>
  %kt, %n = hgc.kv_channel_keys %cache tier host {placement = #hgc.placement<window = 8, tiers = [device = dense, host = channel_topk(budget = 4)]>}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x64x?xf16>, tensor<1xi32>
  %m = hgc.kv_value_mean %cache tier host {placement = #hgc.placement<window = 8, tiers = [device = dense, host = channel_topk(budget = 4)]>}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x64xf32>
  %o2, %l2 = hgc.mean_fold %o, %l, %a, %m
      : (tensor<1x32x64xf32>, tensor<1x32xf32>, tensor<1x8xf32>, tensor<1x8x64xf32>)
      -> (tensor<1x32x64xf32>, tensor<1x32xf32>)
  return %o2 : tensor<1x32x64xf32>
}

// -----

// A cache bound with an engine's per-block key summaries, and a tier's
// summaries read through hgc.kv_summaries.
// CHECK-LABEL: func.func @bind_summaries
// CHECK: %[[C:.+]] = hgc.bind_kv %{{.+}}, %{{.+}} summaries(%{{.+}}, %{{.+}} : tensor<1x8x3x64xf16>, tensor<1x8x3x64xf16>) {summary_block = 16 : i64} : tensor<1x8x40x64xf16>, tensor<1x8x40x64xf16> -> !hgc.kv_cache<8x64xf16>
// CHECK: hgc.kv_summaries %[[C]] tier host {block_size = 16 : i64, placement = #hgc.placement<sink = 16, window = 16, tiers = [device = dense, host = block_topk(budget = 1, block = 16)]>}
// CHECK-SAME: : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<1xi32>
func.func @bind_summaries(%k: tensor<1x8x40x64xf16>, %s: tensor<1x8x3x64xf16>)
    -> tensor<1x8x?x64xf16> {
  %c = hgc.bind_kv %k, %k summaries(%s, %s : tensor<1x8x3x64xf16>, tensor<1x8x3x64xf16>)
      {summary_block = 16 : i64}
      : tensor<1x8x40x64xf16>, tensor<1x8x40x64xf16> -> !hgc.kv_cache<8x64xf16>
  %lo, %hi, %n = hgc.kv_summaries %c tier host {block_size = 16 : i64,
      placement = #hgc.placement<sink = 16, window = 16,
                                 tiers = [device = dense, host = block_topk(budget = 1, block = 16)]>}
      : !hgc.kv_cache<8x64xf16> -> tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>, tensor<1xi32>
  return %lo : tensor<1x8x?x64xf16>
}

// -----

// CHECK-LABEL: func.func @kv_view
// CHECK: = hgc.kv_view %{{.+}} tier host : !hgc.kv_cache<8x64xf32>
// CHECK-SAME: -> tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?xi32>
func.func @kv_view(%cache: !hgc.kv_cache<8x64xf32>)
    -> (tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?xi32>) {
  %k, %v, %len = hgc.kv_view %cache tier host : !hgc.kv_cache<8x64xf32>
      -> tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?xi32>
  return %k, %v, %len : tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?xi32>
}

// -----

// CHECK-LABEL: func.func @select_exact_topk
// CHECK: hgc.select exact_topk %{{.+}}, %{{.+}} lengths(%{{.+}}) {k = 64 : i64, scale = 5.000000e-01 : f32}
// CHECK-SAME: (tensor<1x32x128xf32>, tensor<1x8x?x128xf16>, tensor<1xi32>) -> tensor<1x8x64xi32>
func.func @select_exact_topk(%q: tensor<1x32x128xf32>, %k: tensor<1x8x?x128xf16>,
                             %len: tensor<1xi32>) -> tensor<1x8x64xi32> {
  %idx = hgc.select exact_topk %q, %k lengths(%len) {k = 64 : i64, scale = 0.5 : f32}
      : (tensor<1x32x128xf32>, tensor<1x8x?x128xf16>, tensor<1xi32>)
      -> tensor<1x8x64xi32>
  return %idx : tensor<1x8x64xi32>
}

// -----

// A fractional budget sizes the result at run time.
// CHECK-LABEL: func.func @select_fraction
// CHECK: hgc.select exact_topk %{{.+}}, %{{.+}} {fraction = 5.000000e-02 : f64}
// CHECK-SAME: -> tensor<2x8x?xi32>
func.func @select_fraction(%q: tensor<2x32x128xf32>, %k: tensor<2x8x?x128xf32>)
    -> tensor<2x8x?xi32> {
  %idx = hgc.select exact_topk %q, %k {fraction = 0.05 : f64}
      : (tensor<2x32x128xf32>, tensor<2x8x?x128xf32>) -> tensor<2x8x?xi32>
  return %idx : tensor<2x8x?xi32>
}

// -----

// CHECK-LABEL: func.func @select_block_topk
// CHECK: hgc.select block_topk %{{.+}}, %[[MIN:[a-z0-9_]+]], %[[MAX:[a-z0-9_]+]] {block_size = 16 : i64, k = 8 : i64}
func.func @select_block_topk(%q: tensor<2x8x64xf32>, %kmin: tensor<2x2x32x64xf32>,
                             %kmax: tensor<2x2x32x64xf32>) -> tensor<2x2x8xi32> {
  %idx = hgc.select block_topk %q, %kmin, %kmax {k = 8 : i64, block_size = 16 : i64}
      : (tensor<2x8x64xf32>, tensor<2x2x32x64xf32>, tensor<2x2x32x64xf32>)
      -> tensor<2x2x8xi32>
  return %idx : tensor<2x2x8xi32>
}

// -----

// CHECK-LABEL: func.func @select_quant_topk
// CHECK: hgc.select quant_topk %{{.+}}, %{{.+}}, %{{.+}} {k = 16 : i64}
// CHECK-SAME: (tensor<1x4x64xf32>, tensor<1x4x?x64xi8>, tensor<1x4x?xf32>) -> tensor<1x4x16xi32>
func.func @select_quant_topk(%q: tensor<1x4x64xf32>, %codes: tensor<1x4x?x64xi8>,
                             %scales: tensor<1x4x?xf32>) -> tensor<1x4x16xi32> {
  %idx = hgc.select quant_topk %q, %codes, %scales {k = 16 : i64}
      : (tensor<1x4x64xf32>, tensor<1x4x?x64xi8>, tensor<1x4x?xf32>)
      -> tensor<1x4x16xi32>
  return %idx : tensor<1x4x16xi32>
}

// -----

// CHECK-LABEL: func.func @partial_attention_dense
// CHECK: hgc.partial_attention %{{.+}}, %{{.+}}, %{{.+}} lengths(%{{.+}}) :
// CHECK-SAME: -> (tensor<2x32x128xf32>, tensor<2x32xf32>)
func.func @partial_attention_dense(%q: tensor<2x32x128xf32>,
    %k: tensor<2x8x?x128xf16>, %v: tensor<2x8x?x128xf16>, %len: tensor<2xi32>)
    -> (tensor<2x32x128xf32>, tensor<2x32xf32>) {
  %o, %lse = hgc.partial_attention %q, %k, %v lengths(%len)
      : (tensor<2x32x128xf32>, tensor<2x8x?x128xf16>, tensor<2x8x?x128xf16>,
         tensor<2xi32>) -> (tensor<2x32x128xf32>, tensor<2x32xf32>)
  return %o, %lse : tensor<2x32x128xf32>, tensor<2x32xf32>
}

// -----

// CHECK-LABEL: func.func @partial_attention_blocks
// CHECK: hgc.partial_attention %{{.+}}, %{{.+}}, %{{.+}} indices(%{{.+}}) {block_size = 16 : i64, scale = 2.500000e-01 : f32, softcap = 3.000000e+01 : f32}
func.func @partial_attention_blocks(%q: tensor<1x8x64xf32>,
    %k: tensor<1x2x512x64xbf16>, %v: tensor<1x2x512x64xbf16>,
    %idx: tensor<1x2x4xi32>) -> (tensor<1x8x64xf32>, tensor<1x8xf32>) {
  %o, %lse = hgc.partial_attention %q, %k, %v indices(%idx)
      {block_size = 16 : i64, scale = 0.25 : f32, softcap = 30.0 : f32}
      : (tensor<1x8x64xf32>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>,
         tensor<1x2x4xi32>) -> (tensor<1x8x64xf32>, tensor<1x8xf32>)
  return %o, %lse : tensor<1x8x64xf32>, tensor<1x8xf32>
}

// -----

// CHECK-LABEL: func.func @transfer_and_wait
// CHECK: %[[R0:[a-z0-9_]+]], %[[T0:[a-z0-9_]+]] = hgc.transfer %{{.+}} from device to host : tensor<1x32x128xf32>
// CHECK: %[[R1:[a-z0-9_]+]], %[[T1:[a-z0-9_]+]] = hgc.transfer %{{.+}} from host to device after %[[T0]] : memref<1x32xf32>
// CHECK: hgc.wait %[[T0]], %[[T1]] ready %[[R0]], %[[R1]] : tensor<1x32x128xf32>, memref<1x32xf32>
// CHECK: hgc.wait %[[T1]]{{$}}
func.func @transfer_and_wait(%q: tensor<1x32x128xf32>, %m: memref<1x32xf32>)
    -> tensor<1x32x128xf32> {
  %qh, %t0 = hgc.transfer %q from device to host : tensor<1x32x128xf32>
  %md, %t1 = hgc.transfer %m from host to device after %t0 : memref<1x32xf32>
  %a, %b = hgc.wait %t0, %t1 ready %qh, %md : tensor<1x32x128xf32>, memref<1x32xf32>
  hgc.wait %t1
  return %a : tensor<1x32x128xf32>
}

// -----

// CHECK-LABEL: func.func @lse_merge
// CHECK: hgc.lse_merge %{{.+}}, %{{.+}}, %{{.+}} lse %{{.+}}, %{{.+}}, %{{.+}} : tensor<1x32x128xf32>, tensor<1x32xf32>
func.func @lse_merge(%o0: tensor<1x32x128xf32>, %o1: tensor<1x32x128xf32>,
    %o2: tensor<1x32x128xf32>, %l0: tensor<1x32xf32>, %l1: tensor<1x32xf32>,
    %l2: tensor<1x32xf32>) -> (tensor<1x32x128xf32>, tensor<1x32xf32>) {
  %o, %lse = hgc.lse_merge %o0, %o1, %o2 lse %l0, %l1, %l2
      : tensor<1x32x128xf32>, tensor<1x32xf32>
  return %o, %lse : tensor<1x32x128xf32>, tensor<1x32xf32>
}

// -----

// A token may itself be a forwarded value.
// CHECK-LABEL: func.func @wait_forwards_token
// CHECK: %[[T:.+]] = hgc.wait %{{.+}} ready %{{.+}} : !hgc.token
// CHECK: return %[[T]]
func.func @wait_forwards_token(%a: !hgc.token, %b: !hgc.token) -> !hgc.token {
  %t = hgc.wait %a ready %b : !hgc.token
  return %t : !hgc.token
}

// -----

// The estimate of the tokens a block selection leaves out, and of those an
// exact selection leaves out (their mass from their scores).
// CHECK-LABEL: func.func @tail_estimate
// CHECK: hgc.tail_estimate %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} lengths(%{{.+}}) {block_size = 16 : i64, summary_block = 32 : i64}
// CHECK: hgc.tail_estimate %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} {exact_mass}
func.func @tail_estimate(%q: tensor<1x32x64xf32>, %k: tensor<1x8x?x64xf16>,
                         %i: tensor<1x8x4xi32>, %n: tensor<1xi32>)
    -> (tensor<1x32x64xf32>, tensor<1x32x64xf32>) {
  %o, %l = hgc.tail_estimate %q, %k, %k, %i lengths(%n)
      {block_size = 16 : i64, summary_block = 32 : i64}
      : (tensor<1x32x64xf32>, tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>,
         tensor<1x8x4xi32>, tensor<1xi32>) -> (tensor<1x32x64xf32>, tensor<1x32xf32>)
  %o2, %l2 = hgc.tail_estimate %q, %k, %k, %i {exact_mass}
      : (tensor<1x32x64xf32>, tensor<1x8x?x64xf16>, tensor<1x8x?x64xf16>,
         tensor<1x8x4xi32>) -> (tensor<1x32x64xf32>, tensor<1x32xf32>)
  return %o, %o2 : tensor<1x32x64xf32>, tensor<1x32x64xf32>
}
