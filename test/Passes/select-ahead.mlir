// RUN: hgc-opt %s -split-input-file -hgc-select-ahead 2>/dev/null | FileCheck %s

#map = affine_map<(d0, d1) -> (d0, d1)>
#quest = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = block_topk(budget = 2, block = 4)]>

// Two layers: layer 1's query is f(x1) with x1 = x0 + attention(x0). Its
// selection moves before layer 0's attention, from f(x0), over layer 1's past
// under a window one token shorter (the step's token is in its window: the
// past holds exactly the step's host tokens).
// CHECK-LABEL: func.func @two_layers
// CHECK-SAME: (%[[X0:[a-z0-9]+]]: tensor<1x8xf32>, %[[P0:[a-z0-9]+]]: tensor<1x1x40x4xf32>, %[[N0:[a-z0-9]+]]: tensor<1x1x1x4xf32>, %[[P1:[a-z0-9]+]]: tensor<1x1x40x4xf32>, %[[N1:[a-z0-9]+]]: tensor<1x1x1x4xf32>)
// CHECK: %[[F0:.+]] = linalg.generic {{.+}} ins(%[[X0]] : tensor<1x8xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.negf
// CHECK: %[[PQ:.+]] = tensor.expand_shape %[[F0]]
// CHECK: %[[PAST:.+]] = hgc.bind_kv %[[P1]], %[[P1]] : tensor<1x1x40x4xf32>, tensor<1x1x40x4xf32>
// CHECK: %[[I:.+]] = hgc.preselect %[[PQ]], %[[PAST]] {placement = #hgc.placement<sink = 4, window = 7, tiers = [device = dense, host = block_topk(budget = 2, block = 4)]>} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x1x2xi32>
// CHECK: hgc.decode_attention %{{.+}}, %{{.+}} {placement
// CHECK: hgc.decode_attention %{{.+}}, %{{.+}} preselected(%[[I]] : tensor<1x1x2xi32>)
func.func @two_layers(%x0: tensor<1x8xf32>, %p0: tensor<1x1x40x4xf32>, %n0: tensor<1x1x1x4xf32>,
                      %p1: tensor<1x1x40x4xf32>, %n1: tensor<1x1x1x4xf32>) -> tensor<1x2x4xf32> {
  %q0 = tensor.expand_shape %x0 [[0], [1, 2]] output_shape [1, 2, 4] : tensor<1x8xf32> into tensor<1x2x4xf32>
  %k0 = tensor.concat dim(2) %p0, %n0 : (tensor<1x1x40x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x41x4xf32>
  %c0 = hgc.bind_kv %k0, %k0 : tensor<1x1x41x4xf32>, tensor<1x1x41x4xf32> -> !hgc.kv_cache<1x4xf32>
  %o0 = hgc.decode_attention %q0, %c0 {placement = #quest} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
  %flat = tensor.collapse_shape %o0 [[0], [1, 2]] : tensor<1x2x4xf32> into tensor<1x8xf32>
  %empty = tensor.empty() : tensor<1x8xf32>
  %x1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%x0, %flat : tensor<1x8xf32>, tensor<1x8xf32>) outs(%empty : tensor<1x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<1x8xf32>
  %f1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%x1 : tensor<1x8xf32>) outs(%empty : tensor<1x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<1x8xf32>
  %q1 = tensor.expand_shape %f1 [[0], [1, 2]] output_shape [1, 2, 4] : tensor<1x8xf32> into tensor<1x2x4xf32>
  %k1 = tensor.concat dim(2) %p1, %n1 : (tensor<1x1x40x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x41x4xf32>
  %c1 = hgc.bind_kv %k1, %k1 : tensor<1x1x41x4xf32>, tensor<1x1x41x4xf32> -> !hgc.kv_cache<1x4xf32>
  %o1 = hgc.decode_attention %q1, %c1 {placement = #quest} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
  return %o1 : tensor<1x2x4xf32>
}

// -----

#quest = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = block_topk(budget = 2, block = 4)]>

// One layer: nothing before it to select ahead of.
// CHECK-LABEL: func.func @one_layer
// CHECK-NOT: hgc.preselect
// CHECK: hgc.decode_attention %{{.+}}, %{{.+}} {placement
func.func @one_layer(%q: tensor<1x2x4xf32>, %p: tensor<1x1x40x4xf32>, %n: tensor<1x1x1x4xf32>) -> tensor<1x2x4xf32> {
  %k = tensor.concat dim(2) %p, %n : (tensor<1x1x40x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x41x4xf32>
  %c = hgc.bind_kv %k, %k : tensor<1x1x41x4xf32>, tensor<1x1x41x4xf32> -> !hgc.kv_cache<1x4xf32>
  %o = hgc.decode_attention %q, %c {placement = #quest} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
  return %o : tensor<1x2x4xf32>
}

// -----

#map = affine_map<(d0, d1) -> (d0, d1)>
#quest = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = block_topk(budget = 2, block = 4)]>

// Each step in its own run-time branch (a mask checked per run): layer 1's
// selection moves before layer 0's branch, under layer 1's own condition,
// with the query's last steps (its rows) from inside layer 1's branch; no
// candidates when the step does not run.
// CHECK-LABEL: func.func @branches
// CHECK-SAME: (%[[X0:[a-z0-9]+]]: tensor<1x8xf32>, %[[P0:[a-z0-9]+]]: tensor<1x1x40x4xf32>, %[[N0:[a-z0-9]+]]: tensor<1x1x1x4xf32>, %[[P1:[a-z0-9]+]]: tensor<1x1x40x4xf32>, %[[N1:[a-z0-9]+]]: tensor<1x1x1x4xf32>, %[[S0:[a-z0-9]+]]: i1, %[[S1:[a-z0-9]+]]: i1)
// CHECK: %[[F0:.+]] = linalg.generic {{.+}} ins(%[[X0]] : tensor<1x8xf32>)
// CHECK: %[[Q4:.+]] = tensor.expand_shape %[[F0]]
// CHECK: %[[AHEAD:.+]] = scf.if %[[S1]] -> (tensor<1x1x?xi32>) {
// CHECK-NEXT: %[[ROWS:.+]] = tensor.collapse_shape %[[Q4]]
// CHECK-NEXT: %[[PAST:.+]] = hgc.bind_kv %[[P1]], %[[P1]]
// CHECK-NEXT: %[[I:.+]] = hgc.preselect %[[ROWS]], %[[PAST]]
// CHECK-NEXT: %[[C:.+]] = tensor.cast %[[I]] : tensor<1x1x2xi32> to tensor<1x1x?xi32>
// CHECK-NEXT: scf.yield %[[C]]
// CHECK-NEXT: } else {
// CHECK-NEXT: %[[NONE:.+]] = tensor.empty() : tensor<1x1x0xi32>
// CHECK-NEXT: %[[NC:.+]] = tensor.cast %[[NONE]]
// CHECK-NEXT: scf.yield %[[NC]]
// CHECK: scf.if %[[S0]]
// CHECK: hgc.decode_attention %{{.+}}, %{{.+}} {placement
// CHECK: scf.if %[[S1]]
// CHECK: hgc.decode_attention %{{.+}}, %{{.+}} preselected(%[[AHEAD]] : tensor<1x1x?xi32>)
func.func @branches(%x0: tensor<1x8xf32>, %p0: tensor<1x1x40x4xf32>, %n0: tensor<1x1x1x4xf32>,
                    %p1: tensor<1x1x40x4xf32>, %n1: tensor<1x1x1x4xf32>, %s0: i1, %s1: i1) -> tensor<1x2x4xf32> {
  %q0 = tensor.expand_shape %x0 [[0], [1, 2]] output_shape [1, 2, 4] : tensor<1x8xf32> into tensor<1x2x4xf32>
  %o0 = scf.if %s0 -> tensor<1x2x4xf32> {
    %k0 = tensor.concat dim(2) %p0, %n0 : (tensor<1x1x40x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x41x4xf32>
    %c0 = hgc.bind_kv %k0, %k0 : tensor<1x1x41x4xf32>, tensor<1x1x41x4xf32> -> !hgc.kv_cache<1x4xf32>
    %o = hgc.decode_attention %q0, %c0 {placement = #quest} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
    scf.yield %o : tensor<1x2x4xf32>
  } else {
    scf.yield %q0 : tensor<1x2x4xf32>
  }
  %flat = tensor.collapse_shape %o0 [[0], [1, 2]] : tensor<1x2x4xf32> into tensor<1x8xf32>
  %empty = tensor.empty() : tensor<1x8xf32>
  %x1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%x0, %flat : tensor<1x8xf32>, tensor<1x8xf32>) outs(%empty : tensor<1x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<1x8xf32>
  %f1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%x1 : tensor<1x8xf32>) outs(%empty : tensor<1x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<1x8xf32>
  %q4 = tensor.expand_shape %f1 [[0], [1, 2, 3]] output_shape [1, 2, 1, 4] : tensor<1x8xf32> into tensor<1x2x1x4xf32>
  %o1 = scf.if %s1 -> tensor<1x2x4xf32> {
    %q1 = tensor.collapse_shape %q4 [[0], [1], [2, 3]] : tensor<1x2x1x4xf32> into tensor<1x2x4xf32>
    %k1 = tensor.concat dim(2) %p1, %n1 : (tensor<1x1x40x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x41x4xf32>
    %c1 = hgc.bind_kv %k1, %k1 : tensor<1x1x41x4xf32>, tensor<1x1x41x4xf32> -> !hgc.kv_cache<1x4xf32>
    %o = hgc.decode_attention %q1, %c1 {placement = #quest} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
    scf.yield %o : tensor<1x2x4xf32>
  } else {
    scf.yield %o0 : tensor<1x2x4xf32>
  }
  return %o1 : tensor<1x2x4xf32>
}
