// RUN: hgc-opt %s -split-input-file -hgc-launch-device-partials -canonicalize | FileCheck %s

// A device partial (what convert-hgc-to-loops{target=nvptx} leaves): copies
// in, the split kernel on grid (splits, KV heads, batch) with a warp per
// query head of the group (8 / 2 = 4 warps), the merge kernel, copies out,
// all on one stream; the wait comes after the host's own work, just before
// the first read of a result.

// CHECK-LABEL: func.func @device_partial
// CHECK: %[[S0:.*]] = gpu.wait async
// CHECK: %[[Q:.*]], %[[T0:.*]] = gpu.alloc async [%[[S0]]] () : memref<1x8x64xf16>
// CHECK: gpu.memcpy async [%[[T0]]] %[[Q]], %arg0
// CHECK: gpu.alloc async {{.*}} : memref<1x2x?x64xf16>
// CHECK: gpu.memcpy async
// Tokens per split for ~264 blocks over 1 x 2 (batch x KV heads) rows: the
// tokens over 132 splits, whole 64-token tiles, at least 256.
// CHECK: %[[PER:.*]] = arith.ceildivui %[[TOKENS:.*]], %c132
// CHECK: %[[TILES:.*]] = arith.ceildivui %[[PER]], %c64
// CHECK: %[[ALIGNED:.*]] = arith.muli %[[TILES]], %c64
// CHECK: %[[CHUNK:.*]] = arith.maxui %[[ALIGNED]], %c256
// CHECK: %[[S:.*]] = arith.ceildivui %[[TOKENS]], %[[CHUNK]]
// CHECK: %[[SPLITS:.*]] = arith.maxui %[[S]], %c1
// CHECK: %[[L1:.*]] = gpu.launch_func async [%{{.*}}] @hgc_kernels::@hgc_device_partial_0 blocks in (%[[SPLITS]], %c2, %c1) threads in (%c128, %c1, %c1)
// CHECK-SAME: %[[CHUNK]] : index)
// CHECK: %[[L2:.*]] = gpu.launch_func async [%[[L1]]] @hgc_kernels::@hgc_device_partial_0_merge blocks in (%c8, %c1, %c1) threads in (%c32, %c1, %c1)
// CHECK: gpu.memcpy async [%[[L2]]] %[[OUT:.*]], %{{.*}} : memref<1x8x64xf32>, memref<1x8x64xf32>
// CHECK: gpu.memcpy async
// CHECK-COUNT-9: gpu.dealloc async
// CHECK: memref.load %arg4
// CHECK-NEXT: gpu.wait [%{{.*}}]
// CHECK-NEXT: memref.load %alloc_0
// CHECK-NOT: call @hgc_device_partial_0
// CHECK-NOT: func.func private @hgc_device_partial_0

// The kernel: K/V tiles staged in workgroup memory by 16-byte vectors,
// dot products finished by xor shuffles, barriers around the tile.
// CHECK: gpu.module @hgc_kernels
// CHECK: gpu.func @hgc_device_partial_0({{.*}}) workgroup({{.*}}memref<64x64xf16, #gpu.address_space<workgroup>>{{.*}}) kernel
// CHECK: vector.load %arg0{{.*}}{alignment = 16 : i64} : memref<?x8x64xf16>, vector<8xf16>
// CHECK: vector.load %arg1{{.*}}{alignment = 16 : i64} : memref<?x2x?x64xf16>, vector<8xf16>
// CHECK-NEXT: vector.store {{.*}}{alignment = 16 : i64} : memref<64x64xf16, #gpu.address_space<workgroup>>, vector<8xf16>
// CHECK: gpu.barrier
// CHECK: vector.load {{.*}} : memref<64x64xf16, #gpu.address_space<workgroup>>, vector<8xf16>
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c4_i32, %c32_i32 : f32
// CHECK: math.exp
// CHECK: gpu.barrier
// CHECK: gpu.func @hgc_device_partial_0_merge
func.func @device_partial(%q: memref<1x8x64xf16>, %k: memref<1x2x?x64xf16>,
    %v: memref<1x2x?x64xf16>, %n: memref<1xi32>, %x: memref<4xf32>)
    -> (memref<1x8x64xf32>, f32) {
  %out = memref.alloc() : memref<1x8x64xf32>
  %lse = memref.alloc() : memref<1x8xf32>
  call @hgc_device_partial_0(%q, %k, %v, %n, %out, %lse)
      : (memref<1x8x64xf16>, memref<1x2x?x64xf16>, memref<1x2x?x64xf16>,
         memref<1xi32>, memref<1x8x64xf32>, memref<1x8xf32>) -> ()
  %c0 = arith.constant 0 : index
  %host = memref.load %x[%c0] : memref<4xf32>
  %first = memref.load %lse[%c0, %c0] : memref<1x8xf32>
  %sum = arith.addf %host, %first : f32
  memref.dealloc %lse : memref<1x8xf32>
  return %out, %sum : memref<1x8x64xf32>, f32
}
func.func private @hgc_device_partial_0(memref<1x8x64xf16>, memref<1x2x?x64xf16>,
    memref<1x2x?x64xf16>, memref<1xi32>, memref<1x8x64xf32>, memref<1x8xf32>)
    attributes {hgc.device_partial, hgc.lengths, hgc.softcap = 0.0 : f32}

// -----

// A strided view (a slice of a bound cache) is packed dense on the host
// before the copy, and the packed buffer freed after the wait. Without
// lengths, the kernel takes one argument less. f32 head dim 128: 4-lane
// vectors, a row over the whole warp.

// CHECK-LABEL: func.func @strided_view
// CHECK: %[[PACKED:.*]] = memref.alloc(%{{.*}}) : memref<2x1x?x128xf32>
// CHECK: memref.copy %arg1, %[[PACKED]]
// CHECK: gpu.memcpy async [%{{.*}}] %{{.*}}, %[[PACKED]]
// CHECK: gpu.launch_func async {{.*}} @hgc_kernels::@hgc_device_partial_3 blocks in (%{{.*}}, %c1, %c2) threads in (%c32, %c1, %c1)
// CHECK: gpu.wait [
// CHECK: memref.dealloc %[[PACKED]]
// CHECK: gpu.func @hgc_device_partial_3(%{{.*}}: memref<?x1x128xf32>, %{{.*}}: memref<?x1x?x128xf32>, %{{.*}}: memref<?x1x?x128xf32>, %{{.*}}: memref<?x1x?xf32>, %{{.*}}: memref<?x1x?xf32>, %{{.*}}: memref<?x1x?x128xf32>, %{{.*}}: index)
// CHECK-SAME: kernel
// CHECK: arith.constant 5.000000e-01 : f32
// CHECK: vector.load {{.*}} : memref<?x1x?x128xf32>, vector<4xf32>
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32, %c32_i32 : f32
#strided = strided<[25600, 12800, 128, 1]>
func.func @strided_view(%q: memref<2x1x128xf32>, %k: memref<2x1x?x128xf32, #strided>,
    %v: memref<2x1x?x128xf32, #strided>) -> memref<2x1x128xf32> {
  %out = memref.alloc() : memref<2x1x128xf32>
  %lse = memref.alloc() : memref<2x1xf32>
  call @hgc_device_partial_3(%q, %k, %v, %out, %lse)
      : (memref<2x1x128xf32>, memref<2x1x?x128xf32, #strided>,
         memref<2x1x?x128xf32, #strided>, memref<2x1x128xf32>,
         memref<2x1xf32>) -> ()
  memref.dealloc %lse : memref<2x1xf32>
  return %out : memref<2x1x128xf32>
}
func.func private @hgc_device_partial_3(memref<2x1x128xf32>,
    memref<2x1x?x128xf32, #strided>, memref<2x1x?x128xf32, #strided>,
    memref<2x1x128xf32>, memref<2x1xf32>)
    attributes {hgc.device_partial, hgc.scale = 0.5 : f32, hgc.softcap = 0.0 : f32}

// -----

// Dense attention over a prompt (hgc.rows_per_sequence): a row per query
// token, per-row lengths and a bias [rows, tokens] copied to the device;
// the kernel takes the rows per sequence last and reads the KV of sequence
// row / rows; the grid's z counts the rows.

// CHECK-LABEL: func.func @prompt_rows
// CHECK: gpu.launch_func async {{.*}} @hgc_kernels::@hgc_device_partial_5 blocks in (%{{.*}}, %c2, %c6) threads in
// CHECK-SAME: args(%{{.*}} : memref<?x8x64xf32>, %{{.*}} : memref<?x2x?x64xf32>, %{{.*}} : memref<?x2x?x64xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?x?xf32>, %{{.*}} : memref<?x8x?xf32>, %{{.*}} : memref<?x8x?xf32>, %{{.*}} : memref<?x8x?x64xf32>, %{{.*}} : index, %[[ROWS:.*]] : index)
// CHECK: gpu.func @hgc_device_partial_5(%{{.*}}: memref<?x8x64xf32>, %{{.*}}: memref<?x2x?x64xf32>, %{{.*}}: memref<?x2x?x64xf32>, %{{.*}}: memref<?xi32>, %[[BIAS:.*]]: memref<?x?xf32>, %{{.*}}: memref<?x8x?xf32>, %{{.*}}: memref<?x8x?xf32>, %{{.*}}: memref<?x8x?x64xf32>, %{{.*}}: index, %[[PER:.*]]: index)
// CHECK: %[[ROW:.*]] = gpu.block_id  z
// CHECK: %[[SEQ:.*]] = arith.divui %[[ROW]], %[[PER]]
// CHECK: vector.load %{{.*}}[%[[SEQ]],
// CHECK: memref.load %[[BIAS]][%[[ROW]],
func.func @prompt_rows(%q: memref<6x8x64xf32>, %k: memref<2x2x?x64xf32>,
    %v: memref<2x2x?x64xf32>, %n: memref<6xi32>, %bias: memref<6x?xf32>)
    -> memref<6x8x64xf32> {
  %c3 = arith.constant 3 : index
  %out = memref.alloc() : memref<6x8x64xf32>
  %lse = memref.alloc() : memref<6x8xf32>
  call @hgc_device_partial_5(%q, %k, %v, %n, %bias, %out, %lse, %c3)
      : (memref<6x8x64xf32>, memref<2x2x?x64xf32>, memref<2x2x?x64xf32>,
         memref<6xi32>, memref<6x?xf32>, memref<6x8x64xf32>, memref<6x8xf32>,
         index) -> ()
  memref.dealloc %lse : memref<6x8xf32>
  return %out : memref<6x8x64xf32>
}
func.func private @hgc_device_partial_5(memref<6x8x64xf32>,
    memref<2x2x?x64xf32>, memref<2x2x?x64xf32>, memref<6xi32>,
    memref<6x?xf32>, memref<6x8x64xf32>, memref<6x8xf32>, index)
    attributes {hgc.device_partial, hgc.lengths, hgc.bias,
                hgc.rows_per_sequence, hgc.softcap = 0.0 : f32}
