// RUN: hgc-opt %s -split-input-file -hgc-gpu-host-twins | FileCheck %s

// The twin is the kernel's body with ids, barriers and shuffles as emulator
// calls, workgroup memory as a module global, private memory on the stack.

// The kernel itself is untouched.
// CHECK-LABEL: gpu.func @k
// CHECK: gpu.barrier
// CHECK: memref.global "private" @__hgc_emu_k_workgroup0 : memref<64xf32>
// CHECK: func.func @__hgc_emu_k(%[[A:.*]]: memref<?xf32>, %[[N:.*]]: index) {
// CHECK-DAG: %[[WG:.*]] = memref.get_global @__hgc_emu_k_workgroup0 : memref<64xf32>
// CHECK-DAG: %[[PRIV:.*]] = memref.alloca() : memref<4xf32>
// CHECK: %[[DIM:.*]] = arith.constant 0 : i32
// CHECK: %[[TID:.*]] = call @hgc_emu_thread_id(%[[DIM]]) : (i32) -> i64
// CHECK: %[[T:.*]] = arith.index_cast %[[TID]] : i64 to index
// CHECK: call @hgc_emu_block_id({{.*}}) : (i32) -> i64
// CHECK: call @hgc_emu_block_dim({{.*}}) : (i32) -> i64
// CHECK: call @hgc_emu_grid_dim({{.*}}) : (i32) -> i64
// CHECK: memref.store %{{.*}}, %[[WG]][%[[T]]] : memref<64xf32>
// CHECK: memref.store %{{.*}}, %[[PRIV]]
// CHECK: call @hgc_emu_barrier() : () -> ()
// CHECK: %[[MODE:.*]] = arith.constant 1 : i32
// CHECK: %[[WORD:.*]] = arith.bitcast %{{.*}} : f32 to i32
// CHECK: %[[R:.*]] = call @hgc_emu_shuffle(%[[WORD]], %{{.*}}, %{{.*}}, %[[MODE]]) : (i32, i32, i32, i32) -> i32
// CHECK: arith.bitcast %[[R]] : i32 to f32
// CHECK: return
// CHECK: func.func private @hgc_emu_thread_id(i32) -> i64
module attributes {gpu.container_module} {
  func.func @host(%a: memref<?xf32>, %n: index) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1)
        threads in (%c1, %c1, %c1) args(%a : memref<?xf32>, %n : index)
    return
  }
  gpu.module @kernels {
    gpu.func @k(%a: memref<?xf32>, %n: index)
        workgroup(%s: memref<64xf32, #gpu.address_space<workgroup>>)
        private(%p: memref<4xf32, #gpu.address_space<private>>) kernel {
      %t = gpu.thread_id x
      %b = gpu.block_id y
      %bd = gpu.block_dim x
      %gd = gpu.grid_dim z
      %i = arith.addi %t, %b : index
      %j = arith.addi %bd, %gd : index
      %x = memref.load %a[%i] : memref<?xf32>
      memref.store %x, %s[%t] : memref<64xf32, #gpu.address_space<workgroup>>
      %c0 = arith.constant 0 : index
      memref.store %x, %p[%c0] : memref<4xf32, #gpu.address_space<private>>
      gpu.barrier
      %y = memref.load %s[%j] : memref<64xf32, #gpu.address_space<workgroup>>
      %c2 = arith.constant 2 : i32
      %c32 = arith.constant 32 : i32
      %z, %ok = gpu.shuffle down %y, %c2, %c32 : f32
      memref.store %z, %a[%t] : memref<?xf32>
      gpu.return
    }
  }
}

// -----

// Non-kernel device functions get no twin.
// CHECK-LABEL: gpu.module @helpers
// CHECK-NOT: func.func @__hgc_emu_
module attributes {gpu.container_module} {
  gpu.module @helpers {
    gpu.func @helper(%a: memref<?xf32>) {
      gpu.return
    }
  }
}
