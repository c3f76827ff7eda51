// RUN: hgc-opt %s -split-input-file -hgc-bind-kv-cache | FileCheck %s

// One decode step with past KV: present = past ++ current, bound as a cache;
// the query loses its sequence axis; present_key reads the concatenation.
// CHECK-LABEL: func.func @decode_step
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<2x8x1x16xf16>, %[[K:[a-z0-9]+]]: tensor<2x2x1x16xf16>, %[[V:[a-z0-9]+]]: tensor<2x2x1x16xf16>, %[[PK:[a-z0-9]+]]: tensor<2x2x?x16xf16>, %[[PV:[a-z0-9]+]]: tensor<2x2x?x16xf16>)
// CHECK: %[[KEYS:.+]] = tensor.concat dim(2) %[[PK]], %[[K]]
// CHECK: %[[VALUES:.+]] = tensor.concat dim(2) %[[PV]], %[[V]]
// CHECK: %[[CACHE:.+]] = hgc.bind_kv %[[KEYS]], %[[VALUES]] : tensor<2x2x?x16xf16>, tensor<2x2x?x16xf16> -> !hgc.kv_cache<2x16xf16>
// CHECK: %[[Q3:.+]] = tensor.collapse_shape %[[Q]] {{\[}}[0], [1], [2, 3]] : tensor<2x8x1x16xf16> into tensor<2x8x16xf16>
// CHECK: %[[O:.+]] = hgc.decode_attention %[[Q3]], %[[CACHE]] {scale = 2.500000e-01 : f32, softcap = 5.000000e+01 : f32}
// CHECK: %[[Y:.+]] = tensor.expand_shape %[[O]] {{\[}}[0], [1], [2, 3]]
// CHECK: return %[[Y]], %[[KEYS]]
func.func @decode_step(%q: tensor<2x8x1x16xf16>, %k: tensor<2x2x1x16xf16>,
    %v: tensor<2x2x1x16xf16>, %pk: tensor<2x2x?x16xf16>, %pv: tensor<2x2x?x16xf16>)
    -> (tensor<2x8x1x16xf16>, tensor<2x2x?x16xf16>) {
  %y, %present_k, %present_v = hgc.attention %q, %k, %v
      past(%pk, %pv : tensor<2x2x?x16xf16>, tensor<2x2x?x16xf16>)
      {is_causal = true, scale = 0.25 : f32, softcap = 50.0 : f32}
      : tensor<2x8x1x16xf16>, tensor<2x2x1x16xf16>, tensor<2x2x1x16xf16>
      -> tensor<2x8x1x16xf16> present(tensor<2x2x?x16xf16>, tensor<2x2x?x16xf16>)
  return %y, %present_k : tensor<2x8x1x16xf16>, tensor<2x2x?x16xf16>
}

// -----

// Padding lengths (opset 24) become the cache's lengths.
// CHECK-LABEL: func.func @nonpad
// CHECK: %[[N:.+]] = arith.trunci %{{.+}} : tensor<3xi64> to tensor<3xi32>
// CHECK: hgc.bind_kv %{{.+}}, %{{.+}} lengths(%[[N]] : tensor<3xi32>)
// CHECK: hgc.decode_attention
func.func @nonpad(%q: tensor<3x4x1x8xf32>, %k: tensor<3x4x10x8xf32>,
    %n: tensor<3xi64>) -> tensor<3x4x1x8xf32> {
  %y = hgc.attention %q, %k, %k nonpad_kv_seqlen(%n : tensor<3xi64>)
      : tensor<3x4x1x8xf32>, tensor<3x4x10x8xf32>, tensor<3x4x10x8xf32> -> tensor<3x4x1x8xf32>
  return %y : tensor<3x4x1x8xf32>
}

// -----

// Not a single decode step: prefill (several queries), a mask that differs
// per head, 3-D inputs, and a value head size unlike the key's all stay
// hgc.attention.
// CHECK-LABEL: func.func @not_decode_steps
// CHECK-COUNT-4: hgc.attention
// CHECK-NOT: hgc.decode_attention
func.func @not_decode_steps(%q4: tensor<1x4x3x8xf32>, %k: tensor<1x4x3x8xf32>,
    %q1: tensor<1x4x1x8xf32>, %m: tensor<4x1x3xi1>, %q3: tensor<1x1x32xf32>,
    %k3: tensor<1x3x32xf32>, %v4: tensor<1x4x3x4xf32>) {
  %a = hgc.attention %q4, %k, %k
      : tensor<1x4x3x8xf32>, tensor<1x4x3x8xf32>, tensor<1x4x3x8xf32> -> tensor<1x4x3x8xf32>
  %b = hgc.attention %q1, %k, %k mask(%m : tensor<4x1x3xi1>)
      : tensor<1x4x1x8xf32>, tensor<1x4x3x8xf32>, tensor<1x4x3x8xf32> -> tensor<1x4x1x8xf32>
  %c = hgc.attention %q3, %k3, %k3 {q_num_heads = 4 : i64, kv_num_heads = 4 : i64}
      : tensor<1x1x32xf32>, tensor<1x3x32xf32>, tensor<1x3x32xf32> -> tensor<1x1x32xf32>
  %d = hgc.attention %q1, %k, %v4
      : tensor<1x4x1x8xf32>, tensor<1x4x3x8xf32>, tensor<1x4x3x4xf32> -> tensor<1x4x1x4xf32>
  return
}

// -----

// A per-key additive mask (what exporters build from attention_mask): read
// at run time; padding gives the cache's lengths, anything else runs the
// attention dense as before, marked so that it is not bound again.
// CHECK-LABEL: func.func @padding_mask
// CHECK-SAME: %[[M:[a-z0-9]+]]: tensor<2x1x1x10xf32>
// CHECK-DAG: %[[LOWEST:.+]] = arith.constant -1.70141{{[0-9]*}}E+38 : f32
// CHECK: %[[SCAN:.+]]:2 = scf.for
// CHECK: scf.for
// CHECK: tensor.extract %[[M]]
// CHECK: arith.cmpf oeq
// CHECK: arith.cmpf ole, %{{.+}}, %[[LOWEST]]
// CHECK: %[[PADDING:.+]] = arith.xori %[[SCAN]]#1
// CHECK: %[[Y:.+]] = scf.if %[[PADDING]]
// CHECK: hgc.bind_kv %{{.+}}, %{{.+}} lengths(%[[SCAN]]#0 : tensor<2xi32>)
// CHECK: hgc.decode_attention
// CHECK: } else {
// CHECK: hgc.attention {{.+}} mask(%[[M]] : tensor<2x1x1x10xf32>) {hgc.dense_fallback
// CHECK: return %[[Y]]
func.func @padding_mask(%q: tensor<2x4x1x8xf32>, %k: tensor<2x2x10x8xf32>,
    %m: tensor<2x1x1x10xf32>) -> tensor<2x4x1x8xf32> {
  %y = hgc.attention %q, %k, %k mask(%m : tensor<2x1x1x10xf32>)
      : tensor<2x4x1x8xf32>, tensor<2x2x10x8xf32>, tensor<2x2x10x8xf32> -> tensor<2x4x1x8xf32>
  return %y : tensor<2x4x1x8xf32>
}

// -----

// A boolean mask shared by the batch: true lets a key through; the scan
// reads row 0 for every sequence.
// CHECK-LABEL: func.func @shared_bool_mask
// CHECK: tensor.extract %{{.+}}[%c0, %{{.+}}] : tensor<1x10xi1>
// CHECK: scf.if
// CHECK: hgc.decode_attention
// CHECK: hgc.attention
func.func @shared_bool_mask(%q: tensor<3x4x1x8xf16>, %k: tensor<3x4x10x8xf16>,
    %m: tensor<1x10xi1>) -> tensor<3x4x1x8xf16> {
  %y = hgc.attention %q, %k, %k mask(%m : tensor<1x10xi1>)
      : tensor<3x4x1x8xf16>, tensor<3x4x10x8xf16>, tensor<3x4x10x8xf16> -> tensor<3x4x1x8xf16>
  return %y : tensor<3x4x1x8xf16>
}

// -----

// A dynamic batch: the scan runs over the query's batch at run time.
// CHECK-LABEL: func.func @dynamic_batch_mask
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<?x4x1x8xf32>
// CHECK: %[[B:.+]] = tensor.dim %[[Q]], %c0
// CHECK: tensor.empty(%[[B]]) : tensor<?xi32>
// CHECK: scf.for %{{.+}} = %c0 to %[[B]]
// CHECK: hgc.decode_attention
func.func @dynamic_batch_mask(%q: tensor<?x4x1x8xf32>, %k: tensor<?x4x10x8xf32>,
    %m: tensor<?x1x1x10xf32>) -> tensor<?x4x1x8xf32> {
  %y = hgc.attention %q, %k, %k mask(%m : tensor<?x1x1x10xf32>)
      : tensor<?x4x1x8xf32>, tensor<?x4x10x8xf32>, tensor<?x4x10x8xf32> -> tensor<?x4x1x8xf32>
  return %y : tensor<?x4x1x8xf32>
}

// -----

// A query of run-time length (one program for prompts and decode steps):
// bound under an scf.if on that length being 1, the query cast to one token;
// the mask's query axis is dynamic with it and read at row 0. Other lengths
// keep the dense attention, marked. Present KV come from either branch.
// CHECK-LABEL: func.func @dynamic_query_length
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<2x4x?x8xf32>
// CHECK: %[[S:.+]] = tensor.dim %[[Q]], %c2
// CHECK: %[[STEP:.+]] = arith.cmpi eq, %[[S]], %c1
// CHECK: %[[R:.+]]:3 = scf.if %[[STEP]]
// CHECK: %[[Q1:.+]] = tensor.cast %[[Q]] : tensor<2x4x?x8xf32> to tensor<2x4x1x8xf32>
// CHECK: scf.for
// CHECK: scf.if
// CHECK: tensor.collapse_shape %[[Q1]]
// CHECK: hgc.decode_attention
// CHECK: } else {
// CHECK: hgc.attention {{.+}}hgc.dense_fallback
// CHECK: } else {
// CHECK: hgc.attention {{.+}}hgc.dense_fallback
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @dynamic_query_length(%q: tensor<2x4x?x8xf32>,
    %k: tensor<2x2x?x8xf32>, %pk: tensor<2x2x?x8xf32>,
    %m: tensor<2x1x?x?xf32>) -> (tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>) {
  %y, %present_k, %present_v = hgc.attention %q, %k, %k
      mask(%m : tensor<2x1x?x?xf32>) past(%pk, %pk : tensor<2x2x?x8xf32>, tensor<2x2x?x8xf32>)
      : tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>, tensor<2x2x?x8xf32>
      -> tensor<2x4x?x8xf32> present(tensor<2x2x?x8xf32>, tensor<2x2x?x8xf32>)
  return %y, %present_k : tensor<2x4x?x8xf32>, tensor<2x2x?x8xf32>
}

// -----

// Past and current as adjacent slices of one buffer (an append buffer the
// importer wrote the new token into): the present is one slice of it, not
// a concatenation (which would copy the whole past every step). Their
// batch sizes are different values (the buffer's dim, the query's): a
// concatenation's operands agree there anyway.
// CHECK-LABEL: func.func @adjacent_slices
// CHECK-SAME: (%{{.+}}: tensor<?x8x1x16xf32>, %[[BUF:[a-z0-9]+]]: tensor<?x2x?x16xf32>, %[[LEN:[a-z0-9]+]]: index, %{{.+}}: index)
// CHECK-NOT: tensor.concat
// CHECK: %[[KTOTAL:.+]] = arith.addi %[[LEN]], %{{.+}} : index
// CHECK: %[[KEYS:.+]] = tensor.extract_slice %[[BUF]][0, 0, 0, 0] [%{{.+}}, 2, %[[KTOTAL]], 16] [1, 1, 1, 1]
// CHECK: %[[VTOTAL:.+]] = arith.addi %[[LEN]], %{{.+}} : index
// CHECK: %[[VALUES:.+]] = tensor.extract_slice %[[BUF]][0, 0, 0, 0] [%{{.+}}, 2, %[[VTOTAL]], 16] [1, 1, 1, 1]
// CHECK: hgc.bind_kv %[[KEYS]], %[[VALUES]]
// CHECK-NOT: tensor.concat
func.func @adjacent_slices(%q: tensor<?x8x1x16xf32>, %buf: tensor<?x2x?x16xf32>,
    %len: index, %batch: index) -> tensor<?x8x1x16xf32> {
  %c0 = arith.constant 0 : index
  %rows = tensor.dim %buf, %c0 : tensor<?x2x?x16xf32>
  %past = tensor.extract_slice %buf[0, 0, 0, 0] [%rows, 2, %len, 16] [1, 1, 1, 1]
      : tensor<?x2x?x16xf32> to tensor<?x2x?x16xf32>
  %new = tensor.extract_slice %buf[0, 0, %len, 0] [%batch, 2, 1, 16] [1, 1, 1, 1]
      : tensor<?x2x?x16xf32> to tensor<?x2x1x16xf32>
  %y = hgc.attention %q, %new, %new past(%past, %past
      : tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>) {is_causal = true}
      : tensor<?x8x1x16xf32>, tensor<?x2x1x16xf32>, tensor<?x2x1x16xf32>
      -> tensor<?x8x1x16xf32>
  return %y : tensor<?x8x1x16xf32>
}

// -----

// Slices that are not adjacent (a gap after the past) are concatenated.
// CHECK-LABEL: func.func @gap_between_slices
// CHECK: tensor.concat dim(2)
func.func @gap_between_slices(%q: tensor<1x8x1x16xf32>, %buf: tensor<1x2x?x16xf32>,
    %len: index) -> tensor<1x8x1x16xf32> {
  %past = tensor.extract_slice %buf[0, 0, 0, 0] [1, 2, %len, 16] [1, 1, 1, 1]
      : tensor<1x2x?x16xf32> to tensor<1x2x?x16xf32>
  %c1 = arith.constant 1 : index
  %after = arith.addi %len, %c1 : index
  %new = tensor.extract_slice %buf[0, 0, %after, 0] [1, 2, 1, 16] [1, 1, 1, 1]
      : tensor<1x2x?x16xf32> to tensor<1x2x1x16xf32>
  %y = hgc.attention %q, %new, %new past(%past, %past
      : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>) {is_causal = true}
      : tensor<1x8x1x16xf32>, tensor<1x2x1x16xf32>, tensor<1x2x1x16xf32>
      -> tensor<1x8x1x16xf32>
  return %y : tensor<1x8x1x16xf32>
}
