// RUN: hgc-opt %s -split-input-file -hgc-outline-loop-nests | FileCheck %s
// RUN: hgc-opt %s -split-input-file -hgc-outline-loop-nests="min-ops=100" \
// RUN:   | FileCheck %s --check-prefix=BIG

// Each top-level loop nest of @main moves into a private noinline function
// that takes the buffers and bounds it uses; constants are cloned in.
// CHECK-LABEL: func.func private @main_nest0
// CHECK-SAME: (%{{.+}}: memref<8xf32>, %{{.+}}: memref<8xf32>, %{{.+}}: index)
// CHECK-SAME: passthrough = ["noinline"]
// CHECK:   arith.constant 0 : index
// CHECK:   scf.for
// CHECK:     arith.addf
// CHECK-LABEL: func.func private @main_nest1
// CHECK-SAME: (%{{.+}}: memref<8xf32>)
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[A:.+]]: memref<8xf32>, %[[B:.+]]: memref<8xf32>, %[[N:.+]]: index)
// CHECK-SAME: passthrough = ["noinline", "optnone"]
// CHECK-NOT: scf.for
// CHECK: call @main_nest0(%[[A]], %[[B]], %[[N]])
// CHECK: call @main_nest1(%[[B]])
// CHECK: return
// BIG-LABEL: func.func @main
// BIG-NOT: call
func.func @main(%a: memref<8xf32>, %b: memref<8xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.for %i = %c0 to %n step %c1 {
    %x = memref.load %a[%i] : memref<8xf32>
    %y = arith.addf %x, %x : f32
    memref.store %y, %b[%i] : memref<8xf32>
  }
  scf.for %i = %c0 to %c8 step %c1 {
    scf.for %j = %c0 to %c8 step %c1 {
      %x = memref.load %b[%j] : memref<8xf32>
      memref.store %x, %b[%i] : memref<8xf32>
    }
  }
  return
}

// -----

// A loop that yields values returns them from its function; the glue left
// without loops is compiled without optimization (optnone).
// CHECK-LABEL: func.func private @carried_nest0
// CHECK-SAME: (%{{.+}}: memref<8xf32>) -> f32
// CHECK:   %[[SUM:.+]] = scf.for
// CHECK:   return %[[SUM]] : f32
// CHECK-LABEL: func.func @carried
// CHECK-SAME: passthrough = ["noinline", "optnone"]
// CHECK: %[[R:.+]] = call @carried_nest0(%arg0) : (memref<8xf32>) -> f32
// CHECK: return %[[R]]
// BIG-LABEL: func.func @carried
// BIG-NOT: optnone
// BIG: scf.for
func.func @carried(%a: memref<8xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0.0 : f32
  %sum = scf.for %i = %c0 to %c8 step %c1 iter_args(%s = %zero) -> f32 {
    %x = memref.load %a[%i] : memref<8xf32>
    %t = arith.addf %s, %x : f32
    scf.yield %t : f32
  }
  return %sum : f32
}

// -----

// The same nest over other buffers (one op in two layers, its weights
// arguments) is one function called twice; a nest that differs only in a
// constant gets its own.
// CHECK-LABEL: func.func private @layers_nest0
// CHECK-SAME: (%{{.+}}: memref<8xf32>, %{{.+}}: memref<8xf32>)
// CHECK:   arith.constant 2.000000e+00 : f32
// CHECK-NOT: func.func private @layers_nest1
// CHECK-LABEL: func.func private @layers_nest2
// CHECK:   arith.constant 3.000000e+00 : f32
// CHECK-LABEL: func.func @layers
// CHECK-SAME: (%[[W0:.+]]: memref<8xf32>, %[[W1:.+]]: memref<8xf32>, %[[X:.+]]: memref<8xf32>)
// CHECK: call @layers_nest0(%[[W0]], %[[X]])
// CHECK: call @layers_nest0(%[[W1]], %[[X]])
// CHECK: call @layers_nest2(%[[W1]], %[[X]])
func.func @layers(%w0: memref<8xf32>, %w1: memref<8xf32>, %x: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %two = arith.constant 2.0 : f32
  %three = arith.constant 3.0 : f32
  scf.for %i = %c0 to %c8 step %c1 {
    %w = memref.load %w0[%i] : memref<8xf32>
    %v = memref.load %x[%i] : memref<8xf32>
    %p = arith.mulf %w, %v : f32
    %q = arith.mulf %p, %two : f32
    memref.store %q, %x[%i] : memref<8xf32>
  }
  scf.for %i = %c0 to %c8 step %c1 {
    %w = memref.load %w1[%i] : memref<8xf32>
    %v = memref.load %x[%i] : memref<8xf32>
    %p = arith.mulf %w, %v : f32
    %q = arith.mulf %p, %two : f32
    memref.store %q, %x[%i] : memref<8xf32>
  }
  scf.for %i = %c0 to %c8 step %c1 {
    %w = memref.load %w1[%i] : memref<8xf32>
    %v = memref.load %x[%i] : memref<8xf32>
    %p = arith.mulf %w, %v : f32
    %q = arith.mulf %p, %three : f32
    memref.store %q, %x[%i] : memref<8xf32>
  }
  return
}
