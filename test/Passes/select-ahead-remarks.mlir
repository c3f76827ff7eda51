// RUN: hgc-opt %s -split-input-file -hgc-select-ahead -verify-diagnostics | FileCheck %s

#quest = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = block_topk(budget = 2, block = 4)]>

// Layer 1's query is layer 0's output itself: no residual stream to predict
// it from.
// CHECK-LABEL: func.func @no_residual_stream
// CHECK-NOT: hgc.preselect
func.func @no_residual_stream(%q0: tensor<1x2x4xf32>, %p0: tensor<1x1x40x4xf32>, %n0: tensor<1x1x1x4xf32>,
                              %p1: tensor<1x1x40x4xf32>) -> tensor<1x2x4xf32> {
  %k0 = tensor.concat dim(2) %p0, %n0 : (tensor<1x1x40x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x41x4xf32>
  %c0 = hgc.bind_kv %k0, %k0 : tensor<1x1x41x4xf32>, tensor<1x1x41x4xf32> -> !hgc.kv_cache<1x4xf32>
  %o0 = hgc.decode_attention %q0, %c0 {placement = #quest} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
  %k1 = tensor.concat dim(2) %p1, %n0 : (tensor<1x1x40x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x1x41x4xf32>
  %c1 = hgc.bind_kv %k1, %k1 : tensor<1x1x41x4xf32>, tensor<1x1x41x4xf32> -> !hgc.kv_cache<1x4xf32>
  // expected-remark @+1 {{hgc-select-ahead: the step selects for itself: its query does not come from a residual stream}}
  %o1 = hgc.decode_attention %o0, %c1 {placement = #quest} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
  return %o1 : tensor<1x2x4xf32>
}

// -----

#full = #hgc.placement<tiers = [device = dense]>

// A placement without a selecting tier has nothing to select ahead.
// CHECK-LABEL: func.func @nothing_selected
// CHECK-NOT: hgc.preselect
func.func @nothing_selected(%q: tensor<1x2x4xf32>, %c: !hgc.kv_cache<1x4xf32>) -> tensor<1x2x4xf32> {
  %o0 = hgc.decode_attention %q, %c {placement = #full} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
  // expected-remark @+1 {{the step selects for itself: its placement selects nothing a step can take ahead}}
  %o1 = hgc.decode_attention %o0, %c {placement = #full} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
  return %o1 : tensor<1x2x4xf32>
}

// -----

#quest = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = block_topk(budget = 2, block = 4)]>

// A cache bound over whole tensors has no past to select over ahead.
// CHECK-LABEL: func.func @no_past
// CHECK-NOT: hgc.preselect
func.func @no_past(%q: tensor<1x2x4xf32>, %k: tensor<1x1x41x4xf32>) -> tensor<1x2x4xf32> {
  %c = hgc.bind_kv %k, %k : tensor<1x1x41x4xf32>, tensor<1x1x41x4xf32> -> !hgc.kv_cache<1x4xf32>
  %o0 = hgc.decode_attention %q, %c {placement = #quest} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
  // expected-remark @+1 {{the step selects for itself: its cache is not past ++ current KV}}
  %o1 = hgc.decode_attention %o0, %c {placement = #quest} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
  return %o1 : tensor<1x2x4xf32>
}

// -----

#quest = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = block_topk(budget = 2, block = 4)]>

// Steps in run-time branches (as masks checked per run put them) are looked
// into: here layer 1's cache is bound over whole tensors.
// CHECK-LABEL: func.func @branches
// CHECK-NOT: hgc.preselect
func.func @branches(%q: tensor<1x2x4xf32>, %c: !hgc.kv_cache<1x4xf32>, %step: i1) -> tensor<1x2x4xf32> {
  %o0 = scf.if %step -> tensor<1x2x4xf32> {
    %o = hgc.decode_attention %q, %c {placement = #quest} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
    scf.yield %o : tensor<1x2x4xf32>
  } else {
    scf.yield %q : tensor<1x2x4xf32>
  }
  %o1 = scf.if %step -> tensor<1x2x4xf32> {
    // expected-remark @+1 {{the step selects for itself: its cache is not past ++ current KV}}
    %o = hgc.decode_attention %o0, %c {placement = #quest} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
    scf.yield %o : tensor<1x2x4xf32>
  } else {
    scf.yield %o0 : tensor<1x2x4xf32>
  }
  return %o1 : tensor<1x2x4xf32>
}

// -----

#nowindow = #hgc.placement<sink = 4, window = 0, tiers = [device = dense, host = block_topk(budget = 2, block = 4)]>

// Without a window the step's own token is a host token its past lacks.
// CHECK-LABEL: func.func @no_window
// CHECK-NOT: hgc.preselect
func.func @no_window(%q: tensor<1x2x4xf32>, %c: !hgc.kv_cache<1x4xf32>) -> tensor<1x2x4xf32> {
  %o0 = hgc.decode_attention %q, %c {placement = #nowindow} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
  // expected-remark @+1 {{the step selects for itself: its placement has no window: the step's own token would be a host token the past does not hold}}
  %o1 = hgc.decode_attention %o0, %c {placement = #nowindow} : tensor<1x2x4xf32>, !hgc.kv_cache<1x4xf32> -> tensor<1x2x4xf32>
  return %o1 : tensor<1x2x4xf32>
}
