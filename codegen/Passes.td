//===- Passes.td - the lowering passes ---------------------*- tablegen -*-===//

#ifndef HGC_CODEGEN_PASSES_TD
#define HGC_CODEGEN_PASSES_TD

include "mlir/Pass/PassBase.td"

def LowerToLoopsPass : Pass<"convert-hgc-to-loops"> {
  let summary = "Lower split-level hgc ops to parallel loops over buffers";
  let description = [{
    Lowers `hgc.partial_attention` to a split-K online softmax:
    `scf.parallel` over (batch, KV head, KV split), so one pass over a KV
    head's chunk serves every query head of its group (over (batch, split)
    with the KV heads inside for token-major paged blocks), with 8-wide
    vector loops
    over the head dim (static head dims that are multiples of 8; scalar
    otherwise), then a parallel log-sum-exp merge of the splits (f32
    accumulation; rows with nothing to attend give output 0 and LSE -inf), `hgc.select
    exact_topk` (per-KV-head scores as the maximum over the group's query
    heads, then a partial selection; -1 past the valid candidates) and `hgc.lse_merge` to `scf.parallel` over
    independent rows with `scf.for` inside, reading operands through
    `bufferization.to_buffer` and returning fresh buffers through
    `bufferization.to_tensor`. `hgc.transfer` and `hgc.wait` become their
    host-fallback meaning: the value itself. `hgc.attention` (the reference
    semantics) becomes one online softmax per (batch, head, query) row with
    the ONNX rules: bottom-right causal frontier, boolean or additive masks
    broadcast from the right (a shorter mask masks the rest), padding lengths,
    softcap before the mask, fully masked rows 0. `hgc.kv_view` of an
    `hgc.bind_kv` cache gathers the tokens its placement puts on the tier.
    MatMul-shaped `linalg.generic` contractions of imported models
    (`C[b..., m, n] = sum_k A[b..., m, k] * B[k, n]` into a zero-filled f32
    init) become loops that stream B's rows in address order with 8-lane
    FMAs: up to 8 rows (decode) cut K into parallel chunks with partial
    sums added afterwards, more rows run in parallel blocks of 8.
    One-shot bufferization finishes the module (see the `hgc-host-pipeline`).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::bufferization::BufferizationDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::gpu::GPUDialect"];
  let options = [
    Option<"kvSplit", "kv-split", "int64_t", "2048",
           "tokens per KV split of hgc.partial_attention: longer token ranges "
           "run as parallel chunks merged by log-sum-exp (split-K)">,
    Option<"target", "target", "std::string", "\"host\"",
           "where the device tier runs: host (the same loops as the host "
           "tier) or nvptx (a call of @hgc_device_partial_N over buffers, "
           "which hgc-launch-device-partials turns into GPU kernels)">,
    Option<"countSelected", "count-selected", "bool", "false",
           "after each hgc.select, count the tokens it kept (a block its "
           "block_size) on the calling thread: a call of "
           "hgc_rt_compiled_count_selected (hgc-rt/compiled.h), the JIT's "
           "selected_tokens">
  ];
}

def ExpandStridedCopiesPass : Pass<"hgc-expand-strided-copies"> {
  let summary = "Copy between strided buffers with parallel row loops";
  let description = [{
    After bufferization, `memref.copy` between buffers that are not both
    contiguous (a past KV written into a slice of the present KV, a slice
    read out of a larger tensor) would call MLIR's generic `memrefCopy`,
    which walks element by element. This rewrites each such copy as
    `scf.parallel` over every dimension but the last (OpenMP rows) and an
    8-lane vector loop with a scalar tail over the last one when both
    innermost strides are statically 1 (a scalar loop otherwise).
    Contiguous copies are left to LLVM's memcpy.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def FuseElementwisePass : Pass<"hgc-fuse-elementwise"> {
  let summary = "Fuse chains of elementwise linalg.generic ops";
  let description = [{
    Imported models compute normalization, rotary embedding, gated
    activations and residual adds as one `linalg.generic` per ONNX op, each
    a loop nest writing a buffer the next one reads. This fuses an
    elementwise (all-parallel) producer into an elementwise consumer when
    the consumer is its only user (upstream linalg elementwise fusion, with
    that control): one loop, no intermediate buffer, nothing computed twice.
    Contractions and reductions are neither fused into nor fused, so the
    shapes `convert-hgc-to-loops` lowers itself stay as they are.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::affine::AffineDialect"];
}

def OutlineLoopNestsPass : Pass<"hgc-outline-loop-nests", "ModuleOp"> {
  let summary = "Give each top-level loop nest of a function its own function";
  let description = [{
    A whole imported model lowers to one function with a loop nest per op:
    thousands of loops in one LLVM function, where LLVM's loop passes
    (IndVarSimplify above all) take time superlinear in the function's size
    (most of a 21-layer model's compile), and OpenMP's outlining of each
    parallel region scans the whole function. This moves every `scf.for`
    and `scf.parallel` at the top level of a function body into a private
    function called in its place, taking the values it uses from above as
    arguments (constants are cloned in) and returning the loop's results,
    marked `noinline` so LLVM keeps the functions small. A function left
    without loops is glue (allocations, descriptors, calls) and is marked
    `optnone`: instruction selection over it is what grows with the model.
    Nests that are the same code (equal up to locations, as the same op of
    every layer is once its weights are arguments) share one function, so
    LLVM compiles a repeated layer's loops once. Nests smaller than
    `min-ops` operations stay where they are.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::LLVM::LLVMDialect"];
  let options = [
    Option<"minOps", "min-ops", "int64_t", "1",
           "fewest operations in a loop nest worth a call">
  ];
}

def LaunchDevicePartialsPass
    : Pass<"hgc-launch-device-partials", "ModuleOp"> {
  let summary = "Run the device tier's partials as GPU kernels on a stream";
  let description = [{
    Replaces each call of an `@hgc_device_partial_N` declaration (what
    `convert-hgc-to-loops{target=nvptx}` leaves for a dense device-tier
    partial, after bufferization and buffer deallocation) with: device
    buffers and asynchronous copies of query, K, V and lengths; a launch of
    the split kernel on grid (KV splits, KV heads, batch) (splits chosen at
    run time for about 264 blocks, none shorter than `min-kv-split`), warps
    over the GQA
    group's query heads, K/V tiles staged in workgroup memory, warp-shuffle
    reductions; a launch of the split-merge kernel; asynchronous copies of
    output and LSE back; and one `gpu.wait` just before the first read of
    the results. The kernels go to `gpu.module @hgc_kernels`.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
  let options = [
    Option<"minSplitTokens", "min-kv-split", "int64_t", "256",
           "fewest tokens per KV split of a device partial (one block each, "
           "merged by log-sum-exp); the split is chosen at run time so that "
           "a launch has about 264 blocks">
  ];
}

def GpuHostTwinsPass : Pass<"hgc-gpu-host-twins", "ModuleOp"> {
  let summary = "Give every GPU kernel a host twin the runtime's SIMT "
                "emulator runs";
  let description = [{
    For each kernel `gpu.func @k` of a `gpu.module`, adds a public
    `func.func @__hgc_emu_k` with the same arguments and body, where thread,
    block and grid ids, `gpu.barrier` and `gpu.shuffle` become calls into the
    runtime's emulator (`hgc_emu_*`) and workgroup attributions become
    module globals (the emulator runs one block at a time). On a machine
    without a GPU the runtime's `mgpuLaunchKernel` runs the twin once per
    thread of every block, so the program takes the same launch path with
    the device tier emulated on the host. Kernel arguments must be memrefs or
    integers (every launch parameter is one 8-byte word).
  }];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif // HGC_CODEGEN_PASSES_TD
