// RUN: hgc-opt %s -split-input-file -verify-diagnostics

func.func @q_num_heads_not_positive(%q: tensor<1x2x8xf32>, %k: tensor<1x2x8xf32>, %v: tensor<1x2x8xf32>) {
  // expected-error @+1 {{q_num_heads must be positive, got 0}}
  %y = hgc.attention %q, %k, %v {q_num_heads = 0 : i64, kv_num_heads = 1 : i64}
      : tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32> -> tensor<1x2x8xf32>
  return
}

// -----

func.func @scale_not_finite(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{scale must be finite}}
  %y = hgc.attention %q, %k, %k {scale = 0x7F800000 : f32}
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf32>
  return
}

// -----

func.func @softcap_negative(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{softcap must be finite and >= 0 (0 disables it)}}
  %y = hgc.attention %q, %k, %k {softcap = -1.0 : f32}
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf32>
  return
}

// -----

func.func @qk_mode_out_of_range(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{qk_matmul_output_mode must be 0, 1, 2 or 3, got 4}}
  %y = hgc.attention %q, %k, %k {qk_matmul_output_mode = 4 : i64}
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf32>
  return
}

// -----

func.func @softmax_precision_not_float(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{softmax_precision must be an ONNX float type (1 = float, 10 = float16, 11 = double, 16 = bfloat16), got 7}}
  %y = hgc.attention %q, %k, %k {softmax_precision = 7 : i64}
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf32>
  return
}

// -----

func.func @key_element_type(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf16>) {
  // expected-error @+1 {{'key' element type 'f16' differs from the query's 'f32'}}
  %y = hgc.attention %q, %k, %k
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf16>, tensor<1x2x3x8xf16> -> tensor<1x2x3x8xf32>
  return
}

// -----

func.func @heads_attr_disagrees(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{q_num_heads = 4 but 'query' has 2 heads}}
  %y = hgc.attention %q, %k, %k {q_num_heads = 4 : i64}
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf32>
  return
}

// -----

func.func @query_rank(%q: tensor<2x8xf32>, %k: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{'query' must be 3-D [batch, seq, hidden] or 4-D [batch, heads, seq, head_size], got 'tensor<2x8xf32>'}}
  %y = hgc.attention %q, %k, %k
      : tensor<2x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<2x8xf32>
  return
}

// -----

func.func @query_3d_without_heads(%q: tensor<1x3x16xf32>, %k: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{3-D 'query' needs the q_num_heads attribute}}
  %y = hgc.attention %q, %k, %k
      : tensor<1x3x16xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x3x16xf32>
  return
}

// -----

func.func @hidden_not_divisible(%q: tensor<1x3x18xf32>, %k: tensor<1x3x16xf32>) {
  // expected-error @+1 {{'query' hidden size 18 is not divisible by q_num_heads = 4}}
  %y = hgc.attention %q, %k, %k {q_num_heads = 4 : i64, kv_num_heads = 2 : i64}
      : tensor<1x3x18xf32>, tensor<1x3x16xf32>, tensor<1x3x16xf32> -> tensor<1x3x18xf32>
  return
}

// -----

func.func @batch_mismatch(%q: tensor<2x2x3x8xf32>, %k: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{key batch (1) must equal query batch (2)}}
  %y = hgc.attention %q, %k, %k
      : tensor<2x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<2x2x3x8xf32>
  return
}

// -----

func.func @head_size_mismatch(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x4xf32>) {
  // expected-error @+1 {{key head size (4) must equal query head size (8)}}
  %y = hgc.attention %q, %k, %k
      : tensor<1x2x3x8xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32> -> tensor<1x2x3x4xf32>
  return
}

// -----

func.func @value_heads(%q: tensor<1x4x3x8xf32>, %k: tensor<1x2x3x8xf32>, %v: tensor<1x1x3x8xf32>) {
  // expected-error @+1 {{value heads (1) must equal key heads (2)}}
  %y = hgc.attention %q, %k, %v
      : tensor<1x4x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x1x3x8xf32> -> tensor<1x4x3x8xf32>
  return
}

// -----

func.func @value_sequence(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>, %v: tensor<1x2x5x8xf32>) {
  // expected-error @+1 {{value sequence length (5) must equal key sequence length (3)}}
  %y = hgc.attention %q, %k, %v
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x5x8xf32> -> tensor<1x2x3x8xf32>
  return
}

// -----

func.func @groups_do_not_divide(%q: tensor<1x3x3x8xf32>, %k: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{q_heads (3) must be a multiple of kv_heads (2)}}
  %y = hgc.attention %q, %k, %k
      : tensor<1x3x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x3x3x8xf32>
  return
}

// -----

func.func @past_key_alone(%q: tensor<1x2x1x8xf32>, %k: tensor<1x2x1x8xf32>, %pk: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{past_key and past_value must be given together}}
  %y = "hgc.attention"(%q, %k, %k, %pk) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 0, 0>,
      resultSegmentSizes = array<i32: 1, 0, 0, 0>}>
      : (tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x1x8xf32>
  return
}

// -----

func.func @present_key_alone(%q: tensor<1x2x1x8xf32>, %k: tensor<1x2x1x8xf32>) {
  // expected-error @+1 {{present_key and present_value must be returned together}}
  %y:2 = "hgc.attention"(%q, %k, %k) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0>,
      resultSegmentSizes = array<i32: 1, 1, 0, 0>}>
      : (tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>) -> (tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>)
  return
}

// -----

func.func @nonpad_with_past(%q: tensor<1x2x1x8xf32>, %k: tensor<1x2x1x8xf32>, %pk: tensor<1x2x4x8xf32>, %n: tensor<1xi64>) {
  // expected-error @+1 {{nonpad_kv_seqlen cannot be combined with past KV}}
  %y = hgc.attention %q, %k, %k past(%pk, %pk : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>)
      nonpad_kv_seqlen(%n : tensor<1xi64>)
      : tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32> -> tensor<1x2x1x8xf32>
  return
}

// -----

func.func @past_value_shape(%q: tensor<1x2x1x8xf32>, %k: tensor<1x2x1x8xf32>, %pk: tensor<1x2x4x8xf32>, %pv: tensor<1x2x5x8xf32>) {
  // expected-error @+1 {{'past_value' has shape [1, 2, 5, 8], expected [1, 2, 4, 8]}}
  %y = hgc.attention %q, %k, %k past(%pk, %pv : tensor<1x2x4x8xf32>, tensor<1x2x5x8xf32>)
      : tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32> -> tensor<1x2x1x8xf32>
  return
}

// -----

func.func @present_length(%q: tensor<1x2x1x8xf32>, %k: tensor<1x2x1x8xf32>, %pk: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{'present_key' has shape [1, 2, 4, 8], expected [1, 2, 5, 8]}}
  %y:3 = hgc.attention %q, %k, %k past(%pk, %pk : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>)
      : tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32>, tensor<1x2x1x8xf32> -> tensor<1x2x1x8xf32>
        present(tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>)
  return
}

// -----

func.func @nonpad_shape(%q: tensor<2x2x1x8xf32>, %k: tensor<2x2x1x8xf32>, %n: tensor<3xi64>) {
  // expected-error @+1 {{'nonpad_kv_seqlen' has shape [3], expected [2]}}
  %y = hgc.attention %q, %k, %k nonpad_kv_seqlen(%n : tensor<3xi64>)
      : tensor<2x2x1x8xf32>, tensor<2x2x1x8xf32>, tensor<2x2x1x8xf32> -> tensor<2x2x1x8xf32>
  return
}

// -----

func.func @mask_element_type(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>, %m: tensor<3x3xf16>) {
  // expected-error @+1 {{mask must be i1 or the query's element type 'f32', got 'f16'}}
  %y = hgc.attention %q, %k, %k mask(%m : tensor<3x3xf16>)
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf32>
  return
}

// -----

func.func @scalar_mask(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>, %m: tensor<i1>) {
  // expected-error @+1 {{mask must have rank >= 1}}
  %y = hgc.attention %q, %k, %k mask(%m : tensor<i1>)
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf32>
  return
}

// -----

func.func @mask_too_long(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>, %m: tensor<3x4xi1>) {
  // expected-error @+1 {{mask covers 4 tokens but the total sequence has 3}}
  %y = hgc.attention %q, %k, %k mask(%m : tensor<3x4xi1>)
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf32>
  return
}

// -----

func.func @mask_not_broadcastable(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>, %m: tensor<2x3xi1>) {
  // expected-error @+1 {{'mask' of shape [2] does not broadcast to [1, 2, 3]}}
  %y = hgc.attention %q, %k, %k mask(%m : tensor<2x3xi1>)
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf32>
  return
}

// -----

func.func @output_element_type(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{output element type must be the query's 'f32'}}
  %y = hgc.attention %q, %k, %k
      : tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32> -> tensor<1x2x3x8xf16>
  return
}

// -----

func.func @output_shape_3d(%q: tensor<1x3x16xf32>, %k: tensor<1x3x16xf32>, %v: tensor<1x3x8xf32>) {
  // GQA with a narrower V head: output hidden is q_heads * v_head_size = 8.
  // expected-error @+1 {{'output' has shape [1, 3, 16], expected [1, 3, 8]}}
  %y = hgc.attention %q, %k, %v {q_num_heads = 2 : i64, kv_num_heads = 2 : i64}
      : tensor<1x3x16xf32>, tensor<1x3x16xf32>, tensor<1x3x8xf32> -> tensor<1x3x16xf32>
  return
}

// -----

func.func @qk_output_shape(%q: tensor<1x2x3x8xf32>, %k: tensor<1x2x5x8xf32>) {
  // expected-error @+1 {{'qk_matmul_output' has shape [1, 2, 3, 3], expected [1, 2, 3, 5]}}
  %y:2 = hgc.attention %q, %k, %k
      : tensor<1x2x3x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x5x8xf32> -> tensor<1x2x3x8xf32>
        qk(tensor<1x2x3x3xf32>)
  return
}

// -----

func.func @query_not_float(%q: tensor<1x2x3x8xi32>, %k: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 16-bit float or bfloat16 type or 32-bit float or 64-bit float values}}
  %y = "hgc.attention"(%q, %k, %k) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0>,
      resultSegmentSizes = array<i32: 1, 0, 0, 0>}>
      : (tensor<1x2x3x8xi32>, tensor<1x2x3x8xf32>, tensor<1x2x3x8xf32>) -> tensor<1x2x3x8xf32>
  return
}
