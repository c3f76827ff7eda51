// The named host pipeline takes split-level hgc to the LLVM dialect: rows on
// OpenMP threads, exps as inline polynomials (FMAs), math as LLVM
// intrinsics, nothing of hgc/scf/memref left.
// RUN: hgc-opt %s -hgc-host-pipeline | FileCheck %s

// CHECK-LABEL: llvm.func @step
// CHECK: omp.parallel
// CHECK: omp.wsloop
// CHECK: llvm.intr.fma
// CHECK: llvm.intr.log
// CHECK-NOT: @expf
// CHECK-NOT: hgc.
// CHECK-NOT: scf.
// CHECK-NOT: memref.
func.func @step(%q: tensor<1x8x16xf32>, %k: tensor<1x2x?x16xbf16>, %n: tensor<1xi32>,
    %o2: tensor<1x8x16xf32>, %l2: tensor<1x8xf32>) -> tensor<1x8x16xf32> {
  %o, %l = hgc.partial_attention %q, %k, %k lengths(%n)
      : (tensor<1x8x16xf32>, tensor<1x2x?x16xbf16>, tensor<1x2x?x16xbf16>, tensor<1xi32>)
      -> (tensor<1x8x16xf32>, tensor<1x8xf32>)
  %m, %ml = hgc.lse_merge %o, %o2 lse %l, %l2 : tensor<1x8x16xf32>, tensor<1x8xf32>
  return %m : tensor<1x8x16xf32>
}
