// RUN: hgc-opt %s -split-input-file -hgc-expand-strided-copies | FileCheck %s

// The past KV into the present KV's first tokens (a strided slice): rows in
// parallel over every dimension but the last, 8-lane moves and a scalar
// tail along it.
// CHECK-LABEL: func.func @past_into_present
// CHECK-NOT: memref.copy
// CHECK: scf.parallel (%[[B:.+]], %[[H:.+]], %[[T:.+]]) = (%{{.+}}, %{{.+}}, %{{.+}}) to (%{{.+}}, %{{.+}}, %{{.+}})
// CHECK:   scf.for %[[D:.+]] = %{{.+}} to %{{.+}} step %c8
// CHECK:     %[[V:.+]] = vector.load %arg0[%[[B]], %[[H]], %[[T]], %[[D]]] : memref<1x2x?x36xf32>, vector<8xf32>
// CHECK:     vector.store %[[V]], %{{.+}}[%[[B]], %[[H]], %[[T]], %[[D]]] : memref<1x2x?x36xf32, strided<[?, ?, 36, 1]>>, vector<8xf32>
// CHECK:   scf.for
// CHECK:     memref.load
// CHECK:     memref.store
func.func @past_into_present(%past: memref<1x2x?x36xf32>,
                             %present: memref<1x2x?x36xf32>) {
  %c2 = arith.constant 2 : index
  %n = memref.dim %past, %c2 : memref<1x2x?x36xf32>
  %slice = memref.subview %present[0, 0, 0, 0] [1, 2, %n, 36] [1, 1, 1, 1]
      : memref<1x2x?x36xf32> to memref<1x2x?x36xf32, strided<[?, ?, 36, 1]>>
  memref.copy %past, %slice
      : memref<1x2x?x36xf32> to memref<1x2x?x36xf32, strided<[?, ?, 36, 1]>>
  return
}

// -----

// Contiguous copies stay memref.copy (LLVM's memcpy).
// CHECK-LABEL: func.func @contiguous
// CHECK: memref.copy
// CHECK-NOT: scf.parallel
func.func @contiguous(%a: memref<4x?xf16>, %b: memref<4x?xf16>) {
  memref.copy %a, %b : memref<4x?xf16> to memref<4x?xf16>
  return
}

// -----

// Every other element (inner stride 2): scalar moves only.
// CHECK-LABEL: func.func @every_other
// CHECK: scf.parallel
// CHECK-NOT: vector.load
// CHECK: memref.load
// CHECK: memref.store
func.func @every_other(%a: memref<16x8xi32>, %b: memref<16x4xi32>) {
  %even = memref.subview %a[0, 0] [16, 4] [1, 2]
      : memref<16x8xi32> to memref<16x4xi32, strided<[8, 2]>>
  memref.copy %even, %b : memref<16x4xi32, strided<[8, 2]>> to memref<16x4xi32>
  return
}
