// RUN: hgc-opt %s -split-input-file -hgc-launch-device-partials -verify-diagnostics

func.func @dynamic_head_dim(%q: memref<1x8x?xf16>, %k: memref<1x2x?x?xf16>,
    %out: memref<1x8x?xf32>, %lse: memref<1x8xf32>) {
  // expected-error @+1 {{cannot run the device partial as a GPU kernel: needs static query and KV head counts (a multiple of each other) and a static head dim}}
  call @hgc_device_partial_0(%q, %k, %k, %out, %lse)
      : (memref<1x8x?xf16>, memref<1x2x?x?xf16>, memref<1x2x?x?xf16>,
         memref<1x8x?xf32>, memref<1x8xf32>) -> ()
  return
}
func.func private @hgc_device_partial_0(memref<1x8x?xf16>, memref<1x2x?x?xf16>,
    memref<1x2x?x?xf16>, memref<1x8x?xf32>, memref<1x8xf32>)
    attributes {hgc.device_partial}

// -----

func.func @value_head_dim(%q: memref<1x8x64xf16>, %k: memref<1x2x?x64xf16>,
    %v: memref<1x2x?x32xf16>, %out: memref<1x8x32xf32>, %lse: memref<1x8xf32>) {
  // expected-error @+1 {{of a device partial needs equal key and value head dims}}
  call @hgc_device_partial_0(%q, %k, %v, %out, %lse)
      : (memref<1x8x64xf16>, memref<1x2x?x64xf16>, memref<1x2x?x32xf16>,
         memref<1x8x32xf32>, memref<1x8xf32>) -> ()
  return
}
func.func private @hgc_device_partial_0(memref<1x8x64xf16>, memref<1x2x?x64xf16>,
    memref<1x2x?x32xf16>, memref<1x8x32xf32>, memref<1x8xf32>)
    attributes {hgc.device_partial}

// -----

func.func @too_many_heads_per_warp(%q: memref<1x128x256xf16>,
    %k: memref<1x1x?x256xf16>, %out: memref<1x128x256xf32>,
    %lse: memref<1x128xf32>) {
  // expected-error @+1 {{cannot run the device partial as a GPU kernel: would hold 256 f32 values per lane (at most 128): head dim 256 with 128 query heads per KV head}}
  call @hgc_device_partial_0(%q, %k, %k, %out, %lse)
      : (memref<1x128x256xf16>, memref<1x1x?x256xf16>, memref<1x1x?x256xf16>,
         memref<1x128x256xf32>, memref<1x128xf32>) -> ()
  return
}
func.func private @hgc_device_partial_0(memref<1x128x256xf16>,
    memref<1x1x?x256xf16>, memref<1x1x?x256xf16>, memref<1x128x256xf32>,
    memref<1x128xf32>) attributes {hgc.device_partial}
