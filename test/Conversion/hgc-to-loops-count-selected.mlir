// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops="count-selected=true" | FileCheck %s
// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops | FileCheck %s --check-prefix=OFF

// With count-selected, after the parallel selection and on the calling
// thread, the entries kept (>= 0) are counted (one token each for exact
// top-k) and handed to the runtime.
// CHECK-LABEL: func.func @exact_counted
// CHECK: scf.parallel
// CHECK: scf.reduce
// CHECK: %[[ONE:.+]] = arith.constant 1 : i64
// CHECK: %[[TOTAL:.+]] = scf.for
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK:       arith.cmpi sge
// CHECK:       arith.select %{{.+}}, %[[ONE]]
// CHECK: call @hgc_rt_compiled_count_selected(%[[TOTAL]]) : (i64) -> ()
// CHECK: func.func private @hgc_rt_compiled_count_selected(i64)
// OFF-LABEL: func.func @exact_counted
// OFF-NOT: hgc_rt_compiled_count_selected
func.func @exact_counted(%q: tensor<2x8x16xf32>, %k: tensor<2x2x?x16xf32>,
    %n: tensor<2xi32>) -> tensor<2x2x?xi32> {
  %i = hgc.select exact_topk %q, %k lengths(%n) {fraction = 0.25 : f64}
      : (tensor<2x8x16xf32>, tensor<2x2x?x16xf32>, tensor<2xi32>) -> tensor<2x2x?xi32>
  return %i : tensor<2x2x?xi32>
}

// -----

// A kept block counts its block size.
// CHECK-LABEL: func.func @blocks_counted
// CHECK: %[[BLOCK:.+]] = arith.constant 32 : i64
// CHECK: %[[TOTAL:.+]] = scf.for
// CHECK:       arith.select %{{.+}}, %[[BLOCK]]
// CHECK: call @hgc_rt_compiled_count_selected(%[[TOTAL]])
// OFF-LABEL: func.func @blocks_counted
// OFF-NOT: hgc_rt_compiled_count_selected
func.func @blocks_counted(%q: tensor<1x4x8xf32>, %lo: tensor<1x2x?x8xf16>,
    %hi: tensor<1x2x?x8xf16>, %n: tensor<1xi32>) -> tensor<1x2x?xi32> {
  %i = hgc.select block_topk %q, %lo, %hi lengths(%n) {k = 2 : i64, block_size = 32 : i64}
      : (tensor<1x4x8xf32>, tensor<1x2x?x8xf16>, tensor<1x2x?x8xf16>, tensor<1xi32>) -> tensor<1x2x?xi32>
  return %i : tensor<1x2x?xi32>
}
