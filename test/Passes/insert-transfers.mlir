// RUN: hgc-opt %s -split-input-file -hgc-insert-transfers | FileCheck %s
// RUN: hgc-opt %s -split-input-file -hgc-insert-transfers -hgc-insert-transfers \
// RUN:   | FileCheck %s --check-prefix=TWICE

// The query leaves for the host as soon as it exists; the host waits for it
// only right before its first use (after the device partial has been issued);
// the host partial's results come back and are waited for right before the
// merge. One query copy serves the selection and the host partial.
// CHECK-LABEL: func.func @hybrid
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x8x16xf32>
// CHECK-NEXT: %[[QH:.+]], %[[QT:.+]] = hgc.transfer %[[Q]] from device to host : tensor<1x8x16xf32>
// CHECK: hgc.kv_view %{{.+}} tier device
// CHECK: %[[OD:.+]], %[[LD:.+]] = hgc.partial_attention %[[Q]],
// CHECK: hgc.kv_view %{{.+}} tier host
// CHECK: %[[QW:.+]] = hgc.wait %[[QT]] ready %[[QH]] : tensor<1x8x16xf32>
// CHECK-NEXT: %[[I:.+]] = hgc.select exact_topk %[[QW]],
// CHECK-NEXT: %[[OH:.+]], %[[LH:.+]] = hgc.partial_attention %[[QW]], {{.+}} indices(%[[I]])
// CHECK-DAG: %[[LB:.+]], %[[LT:.+]] = hgc.transfer %[[LH]] from host to device
// CHECK-DAG: %[[OB:.+]], %[[OT:.+]] = hgc.transfer %[[OH]] from host to device
// CHECK-DAG: %[[OW:.+]] = hgc.wait %[[OT]] ready %[[OB]]
// CHECK-DAG: %[[LW:.+]] = hgc.wait %[[LT]] ready %[[LB]]
// CHECK: hgc.lse_merge %[[OD]], %[[OW]] lse %[[LD]], %[[LW]]
// TWICE-LABEL: func.func @hybrid
// TWICE-COUNT-3: hgc.transfer
// TWICE-NOT: hgc.transfer
func.func @hybrid(%q: tensor<1x8x16xf32>, %c: !hgc.kv_cache<2x16xf16>) -> tensor<1x8x16xf32> {
  %kd, %vd, %nd = hgc.kv_view %c tier device : !hgc.kv_cache<2x16xf16>
      -> tensor<1x2x?x16xf16>, tensor<1x2x?x16xf16>, tensor<1xi32>
  %od, %ld = hgc.partial_attention %q, %kd, %vd lengths(%nd)
      : (tensor<1x8x16xf32>, tensor<1x2x?x16xf16>, tensor<1x2x?x16xf16>, tensor<1xi32>)
      -> (tensor<1x8x16xf32>, tensor<1x8xf32>)
  %kh, %vh, %nh = hgc.kv_view %c tier host : !hgc.kv_cache<2x16xf16>
      -> tensor<1x2x?x16xf16>, tensor<1x2x?x16xf16>, tensor<1xi32>
  %i = hgc.select exact_topk %q, %kh lengths(%nh) {k = 4 : i64}
      : (tensor<1x8x16xf32>, tensor<1x2x?x16xf16>, tensor<1xi32>) -> tensor<1x2x4xi32>
  %oh, %lh = hgc.partial_attention %q, %kh, %vh indices(%i) lengths(%nh)
      : (tensor<1x8x16xf32>, tensor<1x2x?x16xf16>, tensor<1x2x?x16xf16>, tensor<1x2x4xi32>, tensor<1xi32>)
      -> (tensor<1x8x16xf32>, tensor<1x8xf32>)
  %o, %l = hgc.lse_merge %od, %oh lse %ld, %lh : tensor<1x8x16xf32>, tensor<1x8xf32>
  return %o : tensor<1x8x16xf32>
}

// -----

// A query defined in the body moves right after its definition; a storage
// tier gets its own copy.
// CHECK-LABEL: func.func @storage_tier
// TWICE-LABEL: func.func @storage_tier
// CHECK: %[[Q:.+]] = arith.negf
// CHECK-NEXT: hgc.transfer %[[Q]] from device to storage
// CHECK: hgc.wait
// CHECK-NEXT: hgc.partial_attention
// CHECK: hgc.transfer %{{.+}} from storage to device
func.func @storage_tier(%x: tensor<1x8x16xf32>, %c: !hgc.kv_cache<2x16xf16>)
    -> (tensor<1x8x16xf32>, tensor<1x8xf32>) {
  %q = arith.negf %x : tensor<1x8x16xf32>
  %k, %v, %n = hgc.kv_view %c tier storage : !hgc.kv_cache<2x16xf16>
      -> tensor<1x2x?x16xf16>, tensor<1x2x?x16xf16>, tensor<1xi32>
  %o, %l = hgc.partial_attention %q, %k, %v lengths(%n)
      : (tensor<1x8x16xf32>, tensor<1x2x?x16xf16>, tensor<1x2x?x16xf16>, tensor<1xi32>)
      -> (tensor<1x8x16xf32>, tensor<1x8xf32>)
  return %o, %l : tensor<1x8x16xf32>, tensor<1x8xf32>
}

// -----

// Device-only and plain-tensor partials need no movement.
// CHECK-LABEL: func.func @device_only
// CHECK-NOT: hgc.transfer
// CHECK-NOT: hgc.wait
func.func @device_only(%q: tensor<1x8x16xf32>, %k: tensor<1x2x9x16xf32>)
    -> tensor<1x8x16xf32> {
  %o, %l = hgc.partial_attention %q, %k, %k
      : (tensor<1x8x16xf32>, tensor<1x2x9x16xf32>, tensor<1x2x9x16xf32>)
      -> (tensor<1x8x16xf32>, tensor<1x8xf32>)
  return %o : tensor<1x8x16xf32>
}
