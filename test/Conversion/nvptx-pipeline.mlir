// RUN: hgc-opt %s -hgc-hybrid-pipeline="policy=hgca sink=4 window=64 budget=0.25" -hgc-lowering-pipeline="target=nvptx chip=sm_90" | FileCheck %s
// RUN: hgc-opt %s -hgc-hybrid-pipeline="policy=full" -hgc-lowering-pipeline="target=nvptx chip=sm_80" | FileCheck %s --check-prefix=SM80
// RUN: hgc-opt %s -hgc-hybrid-pipeline="policy=full" -hgc-lowering-pipeline="target=nvptx chip=sm_90" | FileCheck %s --check-prefix=NOLOCAL
// RUN: not hgc-opt %s -hgc-hybrid-pipeline="policy=full" -hgc-lowering-pipeline="target=cuda" 2>&1 | FileCheck %s --check-prefix=BAD

// The whole nvptx lowering of one hybrid decode step: the kernels become PTX
// embedded in the module (one gpu.binary), the host code calls the mgpu*
// entry points on one stream and keeps LLVM twins of the kernels for the
// emulator. The PTX: 16-byte global and shared vector loads, butterfly
// shuffles, a barrier, nothing in local memory.

// CHECK: llvm.call @mgpuStreamCreate()
// CHECK: llvm.call @mgpuMemAlloc
// CHECK: llvm.call @mgpuMemcpy
// CHECK: gpu.launch_func <%[[STREAM:.*]] : !llvm.ptr> @hgc_kernels::@hgc_device_partial_0 blocks in
// CHECK: gpu.launch_func <%[[STREAM]] : !llvm.ptr> @hgc_kernels::@hgc_device_partial_0_merge blocks in
// CHECK: llvm.call @mgpuStreamSynchronize(%[[STREAM]])
// CHECK: llvm.call @mgpuStreamDestroy(%[[STREAM]])
// CHECK: gpu.binary @hgc_kernels  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90">
// CHECK-SAME: .target sm_90
// CHECK-SAME: .entry hgc_device_partial_0(
// CHECK-SAME: ld.global.v4.b32
// CHECK-SAME: st.shared.v4.b32
// CHECK-SAME: bar.sync
// CHECK-SAME: ld.shared.v4.b32
// CHECK-SAME: shfl.sync.bfly.b32
// CHECK-SAME: .entry hgc_device_partial_0_merge(
// CHECK: llvm.func @__hgc_emu_hgc_device_partial_0(
// CHECK: llvm.call @hgc_emu_shuffle
// CHECK: llvm.func @__hgc_emu_hgc_device_partial_0_merge(

// NOLOCAL-NOT: .local

// SM80: gpu.binary @hgc_kernels  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80">
// SM80-SAME: .target sm_80

// BAD: error: unknown target 'cuda', expected host or nvptx
func.func @main(%q: tensor<1x8x1x64xf32>, %k: tensor<1x2x1x64xf32>,
                %v: tensor<1x2x1x64xf32>, %past_k: tensor<1x2x255x64xf32>,
                %past_v: tensor<1x2x255x64xf32>) -> tensor<1x8x1x64xf32> {
  %y = hgc.attention %q, %k, %v
      past(%past_k, %past_v : tensor<1x2x255x64xf32>, tensor<1x2x255x64xf32>)
      {is_causal = true}
      : tensor<1x8x1x64xf32>, tensor<1x2x1x64xf32>, tensor<1x2x1x64xf32>
      -> tensor<1x8x1x64xf32>
  return %y : tensor<1x8x1x64xf32>
}
