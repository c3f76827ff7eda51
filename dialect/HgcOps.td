//===- HgcOps.td - hgc operations ----------------------------*- tablegen -*-===//

#ifndef HGC_DIALECT_HGCOPS_TD
#define HGC_DIALECT_HGCOPS_TD

include "dialect/HgcBase.td"
include "dialect/HgcAttrs.td"
include "dialect/HgcTypes.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Hgc_FloatTensor : RankedTensorOf<[F16, BF16, F32, F64]>;
def Hgc_I32Tensor : RankedTensorOf<[I32]>;
def Hgc_I8Tensor : RankedTensorOf<[I8]>;
def Hgc_CodeTensor : RankedTensorOf<[I8, I16]>;
def Hgc_F32Tensor : RankedTensorOf<[F32]>;
def Hgc_Tensor : RankedTensorOf<[AnyType]>;

//===----------------------------------------------------------------------===//
// Model level
//===----------------------------------------------------------------------===//

def Hgc_AttentionOp : Hgc_Op<"attention",
    [Pure, AttrSizedOperandSegments, AttrSizedResultSegments]> {
  let summary = "attention with ONNX Attention (opset 23) semantics";
  let description = [{
    `Y = softmax(softcap(scale * Q K^T) + mask) V` over the concatenation of
    `past_key`/`past_value` and `key`/`value`, exactly as ONNX `Attention`:

    * Q, K and V are 4-D `[batch, heads, seq, head_size]` or 3-D
      `[batch, seq, heads * head_size]`; 3-D inputs need `q_num_heads` and
      `kv_num_heads`. `q_heads` must be a multiple of `kv_heads` (GQA).
      Q and K share a head size; V may have its own.
    * `scale` defaults to `1/sqrt(head_size)`; `softcap > 0` applies
      `softcap * tanh(x / softcap)` to the scaled scores.
    * `is_causal` masks with a lower-triangular mask aligned to the bottom
      right, so that with past KV query `i` sees `past + i + 1` tokens.
    * `mask` is boolean (true = attend) or additive float, broadcastable to
      `[batch, q_heads, q_seq, total_seq]`; a last dimension shorter than
      `total_seq` masks the remaining tokens.
    * `present_key`/`present_value` are `past ++ current` `[batch, kv_heads,
      total_seq, head_size]`; `qk_matmul_output` `[batch, q_heads, q_seq,
      total_seq]` returns the scores at the stage `qk_matmul_output_mode`
      names, as ONNX's reference orders them: 0 and 1 the scaled QK^T after
      softcap (if any), 2 with the mask and causal bias added (-inf where
      disallowed), 3 the softmax probabilities (0 where disallowed).
    * `nonpad_kv_seqlen` (opset 24) gives the valid KV length per batch entry;
      it excludes past KV.

    ```mlir
    %y = hgc.attention %q, %k, %v {is_causal = true}
        : tensor<2x8x4x64xf32>, tensor<2x2x6x64xf32>, tensor<2x2x6x64xf32>
        -> tensor<2x8x4x64xf32>
    ```
  }];
  let arguments = (ins Hgc_FloatTensor:$query, Hgc_FloatTensor:$key,
      Hgc_FloatTensor:$value,
      Optional<RankedTensorOf<[I1, F16, BF16, F32, F64]>>:$mask,
      Optional<Hgc_FloatTensor>:$past_key,
      Optional<Hgc_FloatTensor>:$past_value,
      Optional<RankedTensorOf<[I64]>>:$nonpad_kv_seqlen,
      OptionalAttr<I64Attr>:$q_num_heads,
      OptionalAttr<I64Attr>:$kv_num_heads,
      OptionalAttr<F32Attr>:$scale,
      DefaultValuedAttr<BoolAttr, "false">:$is_causal,
      DefaultValuedAttr<F32Attr, "0.0f">:$softcap,
      DefaultValuedAttr<I64Attr, "0">:$qk_matmul_output_mode,
      OptionalAttr<I64Attr>:$softmax_precision);
  let results = (outs Hgc_FloatTensor:$output,
      Optional<Hgc_FloatTensor>:$present_key,
      Optional<Hgc_FloatTensor>:$present_value,
      Optional<Hgc_FloatTensor>:$qk_matmul_output);
  let assemblyFormat = [{
    $query `,` $key `,` $value
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    (`past` `(` $past_key^ `,` $past_value `:` type($past_key) `,`
        type($past_value) `)`)?
    (`nonpad_kv_seqlen` `(` $nonpad_kv_seqlen^ `:` type($nonpad_kv_seqlen) `)`)?
    attr-dict `:` type($query) `,` type($key) `,` type($value)
    `->` type($output)
    (`present` `(` type($present_key)^ `,` type($present_value) `)`)?
    (`qk` `(` type($qk_matmul_output)^ `)`)?
  }];
  let hasVerifier = 1;
}

def Hgc_DecodeAttentionOp : Hgc_Op<"decode_attention",
    [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "one decode step of one layer against a KV cache";
  let description = [{
    Attends one new query token per sequence, `query` `[batch, q_heads,
    head_dim]`, over every token in `cache` (the current token's KV already
    appended), and returns `[batch, q_heads, head_dim]`. `placement` says where
    the cache's tokens live and how each tier is attended; without it the
    attention is exact over all tokens. `scale` defaults to `1/sqrt(head_dim)`;
    `softcap > 0` caps scores as in `hgc.attention`.

    `preselected` `[batch, kv_heads, k]` (i32) are the second tier's chosen
    candidates (tokens, or blocks for `block_topk`), selected ahead of the
    step from another query, as ScoutAttention selects layer l+1's blocks
    from a predicted query while layer l runs: the split attends them with
    the real query instead of selecting. Entries past a row's valid
    candidates are -1. It needs a placement of two tiers whose second one
    selects without estimating what it leaves out (not `channel_topk`), and
    no per-head overrides.

    ```mlir
    %o = hgc.decode_attention %q, %cache {placement = #hgc.placement<
             sink = 4, window = 256,
             tiers = [device = dense, host = exact_topk(budget = 0.05)]>}
        : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x32x128xf32>
    ```
  }];
  let arguments = (ins Hgc_FloatTensor:$query, Hgc_KVCacheType:$cache,
      Optional<Hgc_I32Tensor>:$preselected,
      OptionalAttr<F32Attr>:$scale,
      DefaultValuedAttr<F32Attr, "0.0f">:$softcap,
      OptionalAttr<Hgc_PlacementAttr>:$placement);
  let results = (outs Hgc_FloatTensor:$output);
  let assemblyFormat = [{
    $query `,` $cache (`preselected` `(` $preselected^ `:` type($preselected) `)`)?
    attr-dict `:` type($query) `,` qualified(type($cache)) `->` type($output)
  }];
  let hasVerifier = 1;
}

def Hgc_PreselectOp : Hgc_Op<"preselect",
    [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "a later decode step's second-tier candidates, chosen ahead";
  let description = [{
    Runs the selection of the second tier of `placement` over `cache` with
    `query` `[batch, q_heads, head_dim]`, and returns its candidates
    `[batch, kv_heads, k]` (i32: tokens, or blocks for `block_topk`; -1 past a
    row's valid ones) for a later `hgc.decode_attention ... preselected(...)`
    of the same placement. This is ScoutAttention's layer-ahead selection: the
    host selects layer l+1's candidates from a query predicted from layer l
    while the device runs layer l, and the step attends them with the real
    query. `k` is the budget's count, or dynamic for a fraction. The
    placement is one `preselected` accepts: two tiers, the second selecting
    without an estimate of what it leaves out, no head overrides.

    ```mlir
    %i = hgc.preselect %predicted, %cache {placement = #hgc.placement<
             sink = 4, window = 256, tiers = [device = dense,
             host = block_topk(budget = 64, block = 16)]>}
        : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16> -> tensor<1x8x64xi32>
    ```
  }];
  let arguments = (ins Hgc_FloatTensor:$query, Hgc_KVCacheType:$cache,
      OptionalAttr<F32Attr>:$scale, Hgc_PlacementAttr:$placement);
  let results = (outs Hgc_I32Tensor:$candidates);
  let assemblyFormat = [{
    $query `,` $cache attr-dict `:` type($query) `,` qualified(type($cache))
    `->` type($candidates)
  }];
  let hasVerifier = 1;
}

def Hgc_BindKVOp : Hgc_Op<"bind_kv", [Pure, AttrSizedOperandSegments]> {
  let summary = "a KV cache over plain key and value tensors";
  let description = [{
    Binds `key`/`value` `[batch, kv_heads, tokens, head_dim]` (a model's
    past ++ current KV) as a cache, with `lengths` `[batch]` valid tokens per
    sequence (all tokens without it). This is how a model-level program
    reaches `hgc.decode_attention` before a runtime owns the memory: the
    host lowering resolves each tier's `hgc.kv_view` by slicing these tensors
    per the placement.

    `summaries` are the engine's per-block key minimum and maximum
    `[batch, kv_heads, ceil(tokens / summary_block), head_dim]` over blocks
    of `summary_block` tokens from token 0 (kept up to date as tokens are
    appended, as the KV runtime keeps its page summaries): block selection
    reads them instead of every key. `codes` are the engine's per-token int8
    key codes `[batch, kv_heads, tokens, head_dim]` with their f32 scales
    `[batch, kv_heads, tokens]`, in token order whether or not the KV is
    paged (key ~ code * scale, kept on append as the KV runtime keeps them
    with `quantize_keys`): `quant_topk` selection reads them instead of the
    keys. `pq` are the engine's product-quantized keys:
    codes `[batch, kv_heads, tokens, subspaces]` (i8 for up to 256
    centroids, i16 beyond, both read as unsigned) and the codebooks they
    index `[batch, kv_heads, subspaces, centroids, head_dim / subspaces]`
    (f32; `hgc_rt_pq_fit` and `hgc_rt_pq_encode` make both): `pq_topk`
    selection reads them. `channel_keys` are the engine's channel-major copy
    of the keys `[batch, kv_heads, head_dim, tokens]` in token order:
    `channel_topk` selection reads the chosen channels' rows of it, r /
    head_dim of the keys. `value_sums` are the engine's per-block sums of the
    values `[batch, kv_heads, ceil(tokens / value_block), head_dim]` (f32)
    over blocks of `value_block` tokens from token 0: a tier's mean value is
    made from the sums of its whole blocks.

    ```mlir
    %cache = hgc.bind_kv %k, %v lengths(%n : tensor<2xi32>)
        summaries(%kmin, %kmax : tensor<2x8x?x128xf16>, tensor<2x8x?x128xf16>)
        {summary_block = 16 : i64}
        : tensor<2x8x?x128xf16>, tensor<2x8x?x128xf16>
        -> !hgc.kv_cache<8x128xf16>
    ```

    With `block_table` `[batch, max_blocks]` (i32) the KV is paged, as
    vLLM and FlashInfer keep it: `key`/`value` are the caches of fixed-size
    blocks, `[num_blocks, block_size, kv_heads, head_dim]` (`kv_layout =
    "nhd"`, the default) or `[num_blocks, kv_heads, block_size, head_dim]`
    (`"hnd"`), and token `t` of sequence `b` is slot `t % block_size` of
    block `block_table[b][t / block_size]`. `lengths` is then required and
    the block size a static power of two. Views of a tier that is one token
    range read the blocks where they are.

    ```mlir
    %cache = hgc.bind_kv %kc, %vc lengths(%n : tensor<?xi32>)
        block_table(%t : tensor<?x?xi32>)
        : tensor<?x16x8x128xf16>, tensor<?x16x8x128xf16>
        -> !hgc.kv_cache<8x128xf16>
    ```
  }];
  let arguments = (ins Hgc_FloatTensor:$key, Hgc_FloatTensor:$value,
      Optional<Hgc_I32Tensor>:$lengths, Optional<Hgc_FloatTensor>:$keyMin,
      Optional<Hgc_FloatTensor>:$keyMax, Optional<Hgc_I8Tensor>:$keyCodes,
      Optional<Hgc_F32Tensor>:$keyScales, Optional<Hgc_CodeTensor>:$pqCodes,
      Optional<Hgc_F32Tensor>:$pqCodebooks,
      Optional<Hgc_FloatTensor>:$channelKeys,
      Optional<Hgc_F32Tensor>:$valueSums,
      Optional<Hgc_I32Tensor>:$block_table,
      OptionalAttr<I64Attr>:$summary_block,
      OptionalAttr<I64Attr>:$value_block,
      OptionalAttr<StrAttr>:$kv_layout);
  let results = (outs Hgc_KVCacheType:$cache);
  let assemblyFormat = [{
    $key `,` $value (`lengths` `(` $lengths^ `:` type($lengths) `)`)?
    (`summaries` `(` $keyMin^ `,` $keyMax `:` type($keyMin) `,` type($keyMax)
     `)`)? (`codes` `(` $keyCodes^ `,` $keyScales `:` type($keyCodes) `,`
     type($keyScales) `)`)?
    (`pq` `(` $pqCodes^ `,` $pqCodebooks `:` type($pqCodes) `,`
     type($pqCodebooks) `)`)?
    (`channel_keys` `(` $channelKeys^ `:` type($channelKeys) `)`)?
    (`value_sums` `(` $valueSums^ `:` type($valueSums) `)`)?
    (`block_table` `(` $block_table^ `:` type($block_table) `)`)?
    attr-dict `:` type($key) `,` type($value) `->` qualified(type($cache))
  }];
  let extraClassDeclaration = [{
    /// Paged KV: key/value are caches of blocks read through block_table.
    bool isPaged() { return static_cast<bool>(getBlockTable()); }
    /// Whether a paged cache is [num_blocks, kv_heads, block_size, head_dim].
    bool isHeadsMajor() { return getKvLayout() == "hnd"; }
    /// Tokens per block of a paged cache.
    int64_t getPagedBlockSize() {
      return getKey().getType().getDimSize(isHeadsMajor() ? 2 : 1);
    }
  }];
  let hasVerifier = 1;
}

def Hgc_RuntimeKVOp : Hgc_Op<"runtime_kv", [Pure]> {
  let summary = "one layer of a KV cache the hgc KV runtime owns";
  let description = [{
    The cache of layer `layer` of the runtime cache `handle` (an
    `hgc_rt_kv_cache *` as an integer) for the batch of sequence ids
    `sequences` `[batch]`. The runtime places its pages itself (sinks and
    recent window on the device tier, the rest on the host); `hgc.kv_view` and
    `hgc.kv_summaries` of it lower to the runtime's tier views
    (`hgc-rt/compiled.h`). This is how the JIT's decode step reads KV it
    never sees.

    ```mlir
    %cache = hgc.runtime_kv %handle[%seqs] layer %layer
        : tensor<?xi64> -> !hgc.kv_cache<8x128xf16, page_size = 64>
    ```
  }];
  let arguments = (ins I64:$handle, RankedTensorOf<[I64]>:$sequences,
      I32:$layer);
  let results = (outs Hgc_KVCacheType:$cache);
  let assemblyFormat = [{
    $handle `[` $sequences `]` `layer` $layer attr-dict `:` type($sequences)
    `->` qualified(type($cache))
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Split level
//===----------------------------------------------------------------------===//

def Hgc_KVViewOp : Hgc_Op<"kv_view",
    [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "the keys and values of a cache resident on one tier";
  let description = [{
    Exposes the tokens of `cache` that `placement` puts on `tier` as
    `[batch, kv_heads, tokens, head_dim]` key and value tensors, padded to the
    longest sequence, with each sequence's valid token count in `lengths`.
    Tokens keep their order; on the first tier the sinks come before the
    recent window. Without `placement` the runtime's own placement of the
    cache decides. With `first_head`, the view holds only the KV heads
    `[first_head, first_head + kv_heads of the result)`: the head group of a
    per-head placement override.

    ```mlir
    %k, %v, %len = hgc.kv_view %cache tier host
        : !hgc.kv_cache<8x128xf16>
        -> tensor<?x8x?x128xf16>, tensor<?x8x?x128xf16>, tensor<?xi32>
    ```
  }];
  let arguments = (ins Hgc_KVCacheType:$cache, Hgc_TierAttr:$tier,
      OptionalAttr<Hgc_PlacementAttr>:$placement,
      OptionalAttr<I64Attr>:$first_head);
  let results = (outs Hgc_FloatTensor:$key, Hgc_FloatTensor:$value,
      Hgc_I32Tensor:$lengths);
  let assemblyFormat = [{
    $cache `tier` custom<EnumKeyword>($tier) attr-dict `:` qualified(type($cache)) `->`
    type($key) `,` type($value) `,` type($lengths)
  }];
  let hasVerifier = 1;
}

def Hgc_KVSummariesOp : Hgc_Op<"kv_summaries",
    [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "per-block key minimum and maximum of one tier's tokens";
  let description = [{
    Summarizes the keys `hgc.kv_view` exposes for the same cache, tier and
    placement in blocks of `block_size` tokens (from the view's first token;
    a short last block summarizes what it holds): the channel-wise minimum
    and maximum `[batch, kv_heads, blocks, head_dim]` and each sequence's
    block count in `lengths`. `hgc.select block_topk` scores blocks from
    them (Quest). A cache that keeps summaries (a runtime's pages, or
    `hgc.bind_kv` with `summaries` aligned to the tier) is read, not
    recomputed. `first_head` selects a head group as for `hgc.kv_view`.

    ```mlir
    %min, %max, %blocks = hgc.kv_summaries %cache tier host {block_size = 16 : i64}
        : !hgc.kv_cache<8x128xf16>
        -> tensor<1x8x?x128xf16>, tensor<1x8x?x128xf16>, tensor<1xi32>
    ```
  }];
  let arguments = (ins Hgc_KVCacheType:$cache, Hgc_TierAttr:$tier,
      OptionalAttr<Hgc_PlacementAttr>:$placement, I64Attr:$block_size,
      OptionalAttr<I64Attr>:$first_head);
  let results = (outs Hgc_FloatTensor:$keyMin, Hgc_FloatTensor:$keyMax,
      Hgc_I32Tensor:$lengths);
  let assemblyFormat = [{
    $cache `tier` custom<EnumKeyword>($tier) attr-dict `:` qualified(type($cache)) `->`
    type($keyMin) `,` type($keyMax) `,` type($lengths)
  }];
  let hasVerifier = 1;
}

def Hgc_KVKeyCodesOp : Hgc_Op<"kv_key_codes",
    [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "per-token quantized keys of one tier's tokens";
  let description = [{
    The keys `hgc.kv_view` exposes for the same cache, tier and placement as
    symmetric per-token codes of `bits` bits held in i8 (the largest
    magnitude of a token's key maps to 2^(bits-1) - 1) and their f32 scales:
    codes `[batch, kv_heads, tokens, head_dim]`, scales `[batch, kv_heads,
    tokens]`, each sequence's token count in `lengths`. `hgc.select
    quant_topk` scores tokens from them (HCAttention). A cache bound with the
    engine's `codes` is read, not requantized. `first_head` selects a head
    group as for `hgc.kv_view`.

    ```mlir
    %codes, %scales, %n = hgc.kv_key_codes %cache tier host {bits = 8 : i64}
        : !hgc.kv_cache<8x128xf16>
        -> tensor<1x8x?x128xi8>, tensor<1x8x?xf32>, tensor<1xi32>
    ```
  }];
  let arguments = (ins Hgc_KVCacheType:$cache, Hgc_TierAttr:$tier,
      OptionalAttr<Hgc_PlacementAttr>:$placement,
      DefaultValuedAttr<I64Attr, "8">:$bits,
      OptionalAttr<I64Attr>:$first_head);
  let results = (outs Hgc_I8Tensor:$codes, Hgc_F32Tensor:$scales,
      Hgc_I32Tensor:$lengths);
  let assemblyFormat = [{
    $cache `tier` custom<EnumKeyword>($tier) attr-dict `:` qualified(type($cache)) `->`
    type($codes) `,` type($scales) `,` type($lengths)
  }];
  let hasVerifier = 1;
}

def Hgc_KVPqCodesOp : Hgc_Op<"kv_pq_codes",
    [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "product-quantized keys of one tier's tokens";
  let description = [{
    The product-quantized keys of the tokens `hgc.kv_view` exposes for the
    same cache, tier and placement: codes `[batch, kv_heads, tokens,
    subspaces]` (unsigned, in i8 up to 256 centroids, i16 beyond), the
    codebooks `[batch, kv_heads, subspaces, centroids, head_dim / subspaces]`
    they index, and each sequence's token count in `lengths`. `hgc.select
    pq_topk` scores tokens from them. Codes come from the cache: one bound
    with the engine's `pq` codes (codebooks are fitted to a sequence's
    prefill keys by k-means, which a decode step does not redo).

    ```mlir
    %codes, %books, %n = hgc.kv_pq_codes %cache tier host
        {subspaces = 16 : i64, centroids = 256 : i64}
        : !hgc.kv_cache<8x128xf16>
        -> tensor<1x8x?x16xi8>, tensor<1x8x16x256x8xf32>, tensor<1xi32>
    ```
  }];
  let arguments = (ins Hgc_KVCacheType:$cache, Hgc_TierAttr:$tier,
      OptionalAttr<Hgc_PlacementAttr>:$placement, I64Attr:$subspaces,
      I64Attr:$centroids, OptionalAttr<I64Attr>:$first_head);
  let results = (outs Hgc_CodeTensor:$codes, Hgc_F32Tensor:$codebooks,
      Hgc_I32Tensor:$lengths);
  let assemblyFormat = [{
    $cache `tier` custom<EnumKeyword>($tier) attr-dict `:` qualified(type($cache)) `->`
    type($codes) `,` type($codebooks) `,` type($lengths)
  }];
  let hasVerifier = 1;
}

def Hgc_KVChannelKeysOp : Hgc_Op<"kv_channel_keys",
    [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "one tier's keys channel-major";
  let description = [{
    The keys `hgc.kv_view` exposes for the same cache, tier and placement,
    laid out `[batch, kv_heads, head_dim, tokens]`, each sequence's token
    count in `lengths`: `hgc.select channel_topk` reads the rows of the
    channels it scores on. A cache bound with the engine's `channel_keys` is
    sliced in place; otherwise the tier's keys are transposed (reading every
    key). `first_head` selects a head group as for `hgc.kv_view`.

    ```mlir
    %kt, %n = hgc.kv_channel_keys %cache tier host
        : !hgc.kv_cache<8x128xf16> -> tensor<1x8x128x?xf16>, tensor<1xi32>
    ```
  }];
  let arguments = (ins Hgc_KVCacheType:$cache, Hgc_TierAttr:$tier,
      OptionalAttr<Hgc_PlacementAttr>:$placement,
      OptionalAttr<I64Attr>:$first_head);
  let results = (outs Hgc_FloatTensor:$keys, Hgc_I32Tensor:$lengths);
  let assemblyFormat = [{
    $cache `tier` custom<EnumKeyword>($tier) attr-dict `:` qualified(type($cache)) `->`
    type($keys) `,` type($lengths)
  }];
  let hasVerifier = 1;
}

def Hgc_KVValueMeanOp : Hgc_Op<"kv_value_mean",
    [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "the mean of one tier's values";
  let description = [{
    Per sequence and KV head, the f32 mean `[batch, kv_heads, head_dim]` of
    the values `hgc.kv_view` exposes for the same cache, tier and placement
    (0 for a tier without tokens): what `hgc.mean_fold` puts in place of the
    tokens a selection left out. A cache bound with the engine's
    `value_sums` reads the sums of the tier's whole blocks and the values
    of at most two partial ones; otherwise every value of the tier.

    ```mlir
    %mean = hgc.kv_value_mean %cache tier host
        : !hgc.kv_cache<8x128xf16> -> tensor<1x8x128xf32>
    ```
  }];
  let arguments = (ins Hgc_KVCacheType:$cache, Hgc_TierAttr:$tier,
      OptionalAttr<Hgc_PlacementAttr>:$placement,
      OptionalAttr<I64Attr>:$first_head);
  let results = (outs Hgc_F32Tensor:$mean);
  let assemblyFormat = [{
    $cache `tier` custom<EnumKeyword>($tier) attr-dict `:` qualified(type($cache)) `->`
    type($mean)
  }];
  let hasVerifier = 1;
}

def Hgc_SelectOp : Hgc_Op<"select", [Pure, AttrSizedOperandSegments]> {
  let summary = "choose the tokens or blocks a sparse tier attends";
  let description = [{
    Returns `[batch, kv_heads, k]` i32 indices of the highest-scoring
    candidates (in no guaranteed order: attention does not depend on it) into
    the tier's tokens (`exact_topk`, `quant_topk`, `pq_topk`,
    `channel_topk`) or blocks of `block_size` tokens (`block_topk`). Entries past a sequence's valid candidates are -1.
    The budget is either a count `k` (a static result size) or a `fraction`
    in (0, 1] of each sequence's candidates, rounded up (a dynamic result
    size: the longest sequence's count).
    Grouped-query attention selects once per KV head: a candidate's score is
    the maximum over the group's query heads, so any token that matters to one
    query head of the group is kept.

    `inputs` depend on `policy`:
    * `exact_topk`: keys `[batch, kv_heads, tokens, head_dim]`;
    * `block_topk`: per-block key minimum and maximum, each
      `[batch, kv_heads, blocks, head_dim]`;
    * `quant_topk`: i8 key codes `[batch, kv_heads, tokens, head_dim]` and f32
      per-token scales `[batch, kv_heads, tokens]`;
    * `pq_topk`: unsigned codes `[batch, kv_heads, tokens, subspaces]` (i8 or
      i16) and f32 codebooks `[batch, kv_heads, subspaces, centroids,
      head_dim / subspaces]`: a token scores the sum over sub-spaces of the
      query's sub-vector dotted with its centroid;
    * `channel_topk`: channel-major keys `[batch, kv_heads, head_dim,
      tokens]` (`hgc.kv_channel_keys`), scored on the `channels` = r
      channels where the group's query heads are largest in summed |q| (one
      set per KV head, so a step reads r rows), each query head's score
      scaled as SparQ does (by sqrt(|q|_1 / |q_r|_1) on top of `scale`, so
      the softmax of the partial scores stays comparable to the exact one).

    `lengths` `[batch]` gives the valid candidates (tokens or blocks) per
    sequence; without it every candidate is valid.

    With `mass` = tau in (0, 1] (token selections only) a row keeps the
    fewest top-scoring candidates whose softmax mass under the scores (the
    group's maximum, scaled) reaches tau, at most the budget: the rest of
    its entries are -1 (HCAttention's keep rule).

    The optional `coverage` result `[batch, kv_heads]` (token selections) is
    the share of the row's softmax mass under its scores that the kept
    candidates hold (1 when every candidate is kept, 0 when none is):
    `hgc.mean_fold` weighs the tokens left out with it.

    ```mlir
    %idx = hgc.select exact_topk %q, %k lengths(%len) {k = 64}
        : (tensor<1x32x128xf32>, tensor<1x8x?x128xf16>, tensor<1xi32>)
        -> tensor<1x8x64xi32>
    ```
  }];
  let arguments = (ins Hgc_SelectionAttr:$policy, Hgc_FloatTensor:$query,
      Variadic<Hgc_Tensor>:$inputs, Optional<Hgc_I32Tensor>:$lengths,
      OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$k,
      OptionalAttr<F64Attr>:$fraction,
      DefaultValuedAttr<I64Attr, "1">:$block_size,
      OptionalAttr<F32Attr>:$scale, OptionalAttr<F64Attr>:$mass,
      OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$channels);
  let results = (outs Hgc_I32Tensor:$indices,
      Optional<RankedTensorOf<[F32]>>:$coverage);
  let assemblyFormat = [{
    custom<EnumKeyword>($policy) $query `,` $inputs (`lengths` `(` $lengths^ `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Hgc_PartialAttentionOp : Hgc_Op<"partial_attention",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "attention over part of the KV, returning output and LSE";
  let description = [{
    Attends `query` `[batch, q_heads, head_dim]` over `key`/`value`
    `[batch, kv_heads, tokens, head_dim]` and returns the normalized output
    `[batch, q_heads, v_head_dim]` and its natural-log log-sum-exp
    `[batch, q_heads]` (f32), the pair `hgc.lse_merge` combines. With
    `indices` `[batch, kv_heads, k]` only the selected tokens (or blocks of
    `block_size` tokens) are attended; negative indices are skipped. With
    `lengths` `[batch]` only the first `lengths[b]` tokens are valid. A row
    with nothing to attend yields output 0 and LSE -inf, never NaN.

    ```mlir
    %o, %lse = hgc.partial_attention %q, %k, %v indices(%idx)
        : (tensor<1x32x128xf32>, tensor<1x8x?x128xf16>, tensor<1x8x?x128xf16>,
           tensor<1x8x64xi32>) -> (tensor<1x32x128xf32>, tensor<1x32xf32>)
    ```
  }];
  let arguments = (ins Hgc_FloatTensor:$query, Hgc_FloatTensor:$key,
      Hgc_FloatTensor:$value, Optional<Hgc_I32Tensor>:$indices,
      Optional<Hgc_I32Tensor>:$lengths,
      OptionalAttr<F32Attr>:$scale,
      DefaultValuedAttr<F32Attr, "0.0f">:$softcap,
      DefaultValuedAttr<I64Attr, "1">:$block_size);
  let results = (outs Hgc_FloatTensor:$output,
      RankedTensorOf<[F32]>:$lse);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`indices` `(` $indices^ `)`)?
    (`lengths` `(` $lengths^ `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Hgc_MeanFoldOp : Hgc_Op<"mean_fold", [Pure]> {
  let summary = "fold the tokens a selection left out in as the mean value";
  let description = [{
    A sparse tier's partial attention covers the share `coverage`
    `[batch, kv_heads]` (alpha, from `hgc.select`) of the tier's softmax
    mass; the rest is estimated as the tier's `mean` value `[batch,
    kv_heads, head_dim]` (InstInfer's SparF, after SparQ). Per query head of
    the KV head's group: output = alpha * output + (1 - alpha) * mean, and
    lse = lse - log(alpha), the log of the tier's estimated total mass, so
    `hgc.lse_merge` weighs the tier as a whole. alpha = 1 (every token kept)
    changes nothing; a row with alpha <= 0 (nothing kept) is left as it is.

    ```mlir
    %o2, %lse2 = hgc.mean_fold %o, %lse, %alpha, %mean
        : (tensor<1x32x128xf32>, tensor<1x32xf32>, tensor<1x8xf32>,
           tensor<1x8x128xf32>) -> (tensor<1x32x128xf32>, tensor<1x32xf32>)
    ```
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$output,
      RankedTensorOf<[F32]>:$lse, RankedTensorOf<[F32]>:$coverage,
      RankedTensorOf<[F32]>:$mean);
  let results = (outs RankedTensorOf<[F32]>:$folded_output,
      RankedTensorOf<[F32]>:$folded_lse);
  let assemblyFormat = [{
    $output `,` $lse `,` $coverage `,` $mean attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Hgc_TailEstimateOp : Hgc_Op<"tail_estimate", [Pure]> {
  let summary = "estimate the attention of the tokens a selection left out";
  let description = [{
    The partial (output, log-sum-exp) of the tokens of `key`/`value`
    `[batch, kv_heads, tokens, head_dim]` that `indices` `[batch, kv_heads, k]`
    (tokens, or blocks of `block_size` tokens; negative entries skipped) do
    not select, estimated instead of attended: the valid tokens (`lengths`)
    in blocks of `summary_block` by position, each block's unselected tokens
    U summarized by |U|, their key mean mu, per-channel key variance
    sigma^2 and value mean. Per query head (grouped-query: its KV head's
    blocks) a block contributes

        log |U| + scale * (q . mu) + scale^2 * ((q * q) . sigma^2) / 2

    to the log-sum-exp (the mass of |U| tokens whose scores are Gaussian
    with that mean and variance) and its value mean, weighted by that mass,
    to the output. With `exact_mass` (for a selection that scored every
    token exactly, so the scores are at hand) a block's mass is the sum of
    exp(scale * q . k) over U instead, and only its value mean estimates.
    Blocks of identical keys are estimated exactly either way. A row with no
    unselected token yields output 0 and LSE -inf, so merging it changes
    nothing: a selection that keeps every token stays exact.

    ```mlir
    %o, %lse = hgc.tail_estimate %q, %k, %v, %idx lengths(%len)
        {summary_block = 16 : i64}
        : (tensor<1x32x128xf32>, tensor<1x8x?x128xf16>, tensor<1x8x?x128xf16>,
           tensor<1x8x64xi32>, tensor<1xi32>)
        -> (tensor<1x32x128xf32>, tensor<1x32xf32>)
    ```
  }];
  let arguments = (ins Hgc_FloatTensor:$query, Hgc_FloatTensor:$key,
      Hgc_FloatTensor:$value, Hgc_I32Tensor:$indices,
      Optional<Hgc_I32Tensor>:$lengths,
      OptionalAttr<F32Attr>:$scale,
      DefaultValuedAttr<I64Attr, "1">:$block_size,
      DefaultValuedAttr<I64Attr, "16">:$summary_block,
      UnitAttr:$exact_mass);
  let results = (outs RankedTensorOf<[F32]>:$output,
      RankedTensorOf<[F32]>:$lse);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $indices (`lengths` `(` $lengths^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Hgc_TransferOp : Hgc_Op<"transfer",
    [AllTypesMatch<["source", "result"]>]> {
  let summary = "asynchronous copy of a value between tiers";
  let description = [{
    Starts copying `source` from tier `from` to tier `to` once every token in
    `dependencies` has completed, and returns the copy with a completion
    token. The copy may be read only after an `hgc.wait` on that token.

    ```mlir
    %qh, %t = hgc.transfer %q from device to host : tensor<1x32x128xf32>
    ```
  }];
  let arguments = (ins AnyType:$source, Hgc_TierAttr:$from, Hgc_TierAttr:$to,
      Variadic<Hgc_TokenType>:$dependencies);
  let results = (outs AnyType:$result, Hgc_TokenType:$token);
  let assemblyFormat = [{
    $source `from` custom<EnumKeyword>($from) `to` custom<EnumKeyword>($to) (`after` $dependencies^)? attr-dict
    `:` type($source)
  }];
  let hasVerifier = 1;
}

def Hgc_WaitOp : Hgc_Op<"wait",
    [AttrSizedOperandSegments, DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "wait for asynchronous work, then use its values";
  let description = [{
    Blocks until every token has completed and forwards `values` unchanged.
    Uses of a transferred value go through the wait's result, so the wait can
    sit right before the first use.

    ```mlir
    %qh2 = hgc.wait %t ready %qh : tensor<1x32x128xf32>
    ```
  }];
  let arguments = (ins Variadic<Hgc_TokenType>:$tokens,
      Variadic<AnyType>:$values);
  let results = (outs Variadic<AnyType>:$results);
  let assemblyFormat = [{
    $tokens (`ready` $values^ `:` type($values))? attr-dict
  }];
  let hasVerifier = 1;
}

def Hgc_LseMergeOp : Hgc_Op<"lse_merge", [Pure, AttrSizedOperandSegments]> {
  let summary = "exact merge of partial attentions by log-sum-exp";
  let description = [{
    Combines n >= 2 partials `(output_i, lse_i)` of the same query over
    disjoint KV: `lse = log(sum_i exp(lse_i))`,
    `output = sum_i output_i * exp(lse_i - lse)`. Partials with LSE -inf
    contribute nothing; when every partial is empty the output is 0 and the
    LSE -inf. `lse_i` has the shape of `output_i` without its last dimension.

    ```mlir
    %o, %lse = hgc.lse_merge %od, %oh lse %ld, %lh
        : tensor<1x32x128xf32>, tensor<1x32xf32>
    ```
  }];
  let arguments = (ins Variadic<Hgc_FloatTensor>:$outputs,
      Variadic<RankedTensorOf<[F32]>>:$lses);
  let results = (outs Hgc_FloatTensor:$output, RankedTensorOf<[F32]>:$lse);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
}

#endif // HGC_DIALECT_HGCOPS_TD
