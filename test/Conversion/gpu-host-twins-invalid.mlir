// RUN: hgc-opt %s -split-input-file -hgc-gpu-host-twins -verify-diagnostics

module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @+1 {{has an argument of type 'f32' the SIMT emulator cannot pass (memrefs, index and i64 only)}}
    gpu.func @float_argument(%x: f32) kernel {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @lane_id(%a: memref<?xindex>) kernel {
      // expected-error @+1 {{has no host twin in the SIMT emulator}}
      %l = gpu.lane_id
      %c0 = arith.constant 0 : index
      memref.store %l, %a[%c0] : memref<?xindex>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @wide_shuffle(%a: memref<?xf64>) kernel {
      %c0 = arith.constant 0 : index
      %x = memref.load %a[%c0] : memref<?xf64>
      %c1 = arith.constant 1 : i32
      %c32 = arith.constant 32 : i32
      // expected-error @+1 {{of 'f64' is not emulated}}
      %y, %ok = gpu.shuffle xor %x, %c1, %c32 : f64
      memref.store %y, %a[%c0] : memref<?xf64>
      gpu.return
    }
  }
}
