//===- Passes.td - hgc passes --------------------------------*- tablegen -*-===//

#ifndef HGC_PASSES_PASSES_TD
#define HGC_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def RaiseAttentionPass : Pass<"hgc-raise-attention"> {
  let summary = "Raise decomposed attention (matmul, scale, mask, softmax, "
                "matmul) to hgc.attention";
  let description = [{
    Matches the graph exporters write for scaled dot-product attention once it
    is in linalg, anchored on a 4-D `linalg.softmax` over the key axis:
    a batched contraction `Q x K^T` (named op or `linalg.generic`, K given
    directly or transposed), optional scaling by splat constants (`mulf`,
    `divf`, `linalg.mul`, `linalg.div` or an elementwise `linalg.generic`
    reading a broadcast constant; of the scores, or of Q and K^T each as
    ONNX's function body does; the product becomes `scale`), an optional
    mask added to the scores (of their shape, or broadcast numpy-style from
    the right; an all-zero bias is dropped), the softmax, and the
    contraction with V. K and V expanded from fewer KV heads the ONNX way
    (`linalg.broadcast` of a group axis after the head axis, or the
    importer's unsqueeze + broadcasting `linalg.generic`, collapsed into the
    head axis) become grouped-query attention. torch's exporters' forms are
    seen through: K^T written as collapse_shape -> 3-D transpose ->
    expand_shape of the leading axes (dynamo), and softmax's NaN guard
    `where(isnan(p), 0, p)` before the contraction with V (hgc.attention
    already gives fully masked rows 0). A soft cap `c * tanh(x / c)` between
    the scaling and the mask becomes `softcap` (a scaling after it leaves the
    softmax alone). f16/bf16 attention as imported (Q K^T accumulated in f32,
    rounded to f16 and widened again, V widened for P x V) is raised in Q's
    type: precision casts on the scores' path are dropped (hgc keeps scores
    in f32), an additive mask of another float type is converted to Q's
    type (0 and -inf stay exact), and the output is widened back where the
    graph used it wider. Scores used elsewhere, or a mask with any other
    indexing, are left alone.
  }];
  let dependentDialects = ["::mlir::hgc::HgcDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def BindKVCachePass : Pass<"hgc-bind-kv-cache"> {
  let summary = "Turn single-query attention over past ++ current KV into "
                "decode attention on a KV cache";
  let description = [{
    Rewrites an `hgc.attention` that is one decode step (4-D, one query
    token, no QK output, value head size equal to the key head size, KV in
    f32/f16/bf16) into `hgc.decode_attention` on `hgc.bind_kv` of the present
    KV, the concatenation of `past_key`/`past_value` and `key`/`value` along
    the sequence. `nonpad_kv_seqlen` becomes the cache's lengths. Causality
    needs nothing: a single query aligned to the bottom right sees every token.
    `present_key`/`present_value` uses read the concatenation.

    A mask that gives one value per key and sequence (right-aligned
    `[batch or 1, 1, 1, keys]`, what exporters build from an
    `attention_mask` input) is read at run time: when every sequence's mask
    is "the first n keys, n >= 1" (additive 0 then -inf or below half the
    type's lowest value, or boolean true then false) n becomes the cache's
    lengths; otherwise (a bias, holes, left padding, an empty row) an
    `scf.if` runs the attention dense as it was, marked
    `hgc.dense_fallback`. A query whose length is dynamic is bound the same
    way under an `scf.if` on that length being 1 (a program compiled once
    for prompts and decode steps); other lengths run dense, marked so too.
    Other attention is left alone.
  }];
  let dependentDialects = ["::mlir::hgc::HgcDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

def PlaceKVPass : Pass<"hgc-place-kv"> {
  let summary = "Attach a #hgc.placement to decode attention from a policy";
  let description = [{
    Gives every `hgc.decode_attention` without a placement the placement the
    policy describes; placements already in the IR (written by hand or by a
    frontend) are kept. Policies:

    * `full`: every token on one tier, attended exactly
      (`tiers = [device = dense]`; on a machine without a GPU the device tier
      runs on the host).
    * `hgca`: the first `sink` tokens and the last `window` tokens dense on
      the device, every other token on the host attended over an exact
      per-KV-head top-`budget` (HGCA).
    * `quest`: the same tiers, the host attending its top blocks of `block`
      tokens, scored from per-block key min/max summaries (Quest,
      ScoutAttention); `budget` tokens become whole blocks.

    `budget` uses the attribute's spelling: an integer is a token count, a
    number with a decimal point a fraction in (0, 1] of the host tokens. The
    result is checked against the cache (e.g. a window larger than the cache's
    `max_tokens` is an error at the op).

    The option names and defaults are those of every hgc entry point
    (`hgc compile/run/plan`, the JIT): see `passes/PlacementOptions.h`.
  }];
  let options = [
    Option<"policy", "policy", "std::string",
           "::mlir::hgc::PlacementOptions{}.policy",
           "placement policy: full (all tokens on one tier, exact), hgca "
           "(sinks + recent window dense on the device, the rest on the host "
           "over an exact per-KV-head top-k) or quest (the host's top blocks "
           "from key min/max summaries)">,
    Option<"sink", "sink", "int64_t", "::mlir::hgc::PlacementOptions{}.sink",
           "attention-sink tokens kept on the device (hgca, quest)">,
    Option<"window", "window", "int64_t",
           "::mlir::hgc::PlacementOptions{}.window",
           "most recent tokens kept on the device (hgca, quest)">,
    Option<"budget", "budget", "std::string",
           "::mlir::hgc::PlacementOptions{}.budget",
           "host tokens attended per KV head (hgca, quest): an integer "
           "count, or a fraction in (0, 1] written with a decimal point">,
    Option<"block", "block", "int64_t",
           "::mlir::hgc::PlacementOptions{}.block",
           "tokens per selected block (quest): a power of two">
  ];
  let dependentDialects = ["::mlir::hgc::HgcDialect"];
}

def SplitAttentionPass : Pass<"hgc-split-attention"> {
  let summary = "Split placed decode attention into per-tier partials and an "
                "LSE merge";
  let description = [{
    Rewrites every `hgc.decode_attention` that carries a `#hgc.placement` into
    one partial attention per tier, merged exactly:

    * `hgc.kv_view` exposes the tokens resident on the tier;
    * a `dense` tier is attended whole by `hgc.partial_attention`;
    * an `exact_topk` tier first runs `hgc.select` (a count `k` or a
      `fraction` of the tier's tokens, per KV head, the maximum over the
      group's query heads) and attends the selected tokens;
    * a `block_topk` tier reads its per-block key summaries
      (`hgc.kv_summaries`), selects blocks by their upper-bound score and
      attends the selected blocks' tokens;
    * `hgc.lse_merge` combines the partials (a single tier needs no merge);
      partials accumulate in f32 and the result is truncated back to the
      query's element type.

    Per-head overrides split into head groups (contiguous runs of KV heads
    under one placement): each group's views carry `first_head`, its query
    heads are a slice of the query, and the group outputs are inserted back
    in head order.

    Decode attention without a placement is left alone (run `hgc-place-kv`
    first). `quant_topk` (quantized keys from the KV runtime) is reported as
    an error.
  }];
  let dependentDialects = ["::mlir::hgc::HgcDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def InsertTransfersPass : Pass<"hgc-insert-transfers"> {
  let summary = "Make the data movement of split attention explicit and "
                "asynchronous";
  let description = [{
    The query and the merged output live on the device tier. For every
    `hgc.select` and `hgc.partial_attention` that reads KV viewed on another
    tier (host, cxl, storage), this pass starts an `hgc.transfer` of its query
    to that tier right after the query is defined, and sends the partial's
    output and LSE back to the device right after they are computed. Each
    `hgc.wait` sits immediately before the first use of the moved value, so
    the copies overlap the device's dense partial and the other tier's
    selection. One query copy per tier is shared by all its users. Ops that
    already read moved values are left alone, so the pass is idempotent.
  }];
  let dependentDialects = ["::mlir::hgc::HgcDialect"];
}

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

def RaiseStablehloAttentionPass
    : Pass<"hgc-raise-stablehlo-attention", "ModuleOp"> {
  let summary = "Raise attention written in StableHLO to hgc.attention";
  let description = [{
    Matches `dot_general(Q, K)`, splat scalings, at most one mask
    (`select(mask, S, -big)` or `S + bias`), transposes and converts, a
    softmax over the key axis (`exp(S - max S) / sum exp(S - max S)`, the
    max possibly clamped by -inf), an optional convert, and
    `dot_general(P, V)`; the axes are named by their roles in the two
    contractions, so JAX's BTNH layout, GQA's group axis and XLA's
    transposes all match. The match becomes Q, K, V (and the mask, as an
    additive bias in Q's type) rearranged to `[batch, heads, positions,
    dim]`, one `hgc.attention` with the scale, and its output rearranged
    into the P x V result's layout. Anything else is left to
    `hgc-lower-stablehlo`.
  }];
  let dependentDialects = ["::mlir::hgc::HgcDialect"];
}

def LowerStablehloPass : Pass<"hgc-lower-stablehlo", "ModuleOp"> {
  let summary = "Lower the imported StableHLO subset to linalg, tensor and arith";
  let description = [{
    Rewrites every `stablehlo` op of the subset hgc imports into upstream ops
    on tensors, following the StableHLO specification: elementwise ops,
    `compare`, `select`, `convert`, `reduce_precision` and `iota` become
    `linalg.generic` with scalar `arith`/`math` bodies; `constant` an
    `arith.constant`; `broadcast_in_dim` a `linalg.generic` that reads size-1
    operand dimensions at 0; `transpose` a `linalg.transpose`; `reshape` a
    `tensor.reshape`; `dot_general` one `linalg.generic` over (batch, lhs
    free, rhs free, contracting) loops that accumulates in f32 for narrower
    float results (as XLA does) and rounds once; `reduce` a `linalg.reduce`
    whose body is the reducer on scalars (several inputs at once: argmax);
    `concatenate`, `slice`,
    `dynamic_slice`, `dynamic_update_slice` and `pad` tensor slices (start
    indices clamped as the spec says); `gather` a `linalg.generic` of
    `tensor.extract`s; `scatter` a loop nest over the updates; `while`,
    `case` and `if` the `scf` ops `while`, `index_switch` and `if` holding
    the same regions; `optimization_barrier` its operands; `composite` a
    call of its decomposition. `func.call` of private helpers stays.
    Unsupported input (`custom_call` targets, reducers with non-elementwise
    ops, unsigned or complex element types) is a located error.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
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

#endif // HGC_PASSES_PASSES_TD
