//===- Passes.td - the placement passes --------------------*- tablegen -*-===//

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
    * `hca`: the same tiers, the host scoring its tokens from int8 key codes
      and attending the fewest top-scoring ones whose softmax mass reaches
      `tau`, at most `budget` (HCAttention).
    * `scout`: quest's tiers; pipelines built for it run `hgc-select-ahead`
      after this pass (ScoutAttention).
    * `sparf`: the host scoring its tokens on the query's largest channels
      and folding the rest in as the mean value (InstInfer's SparF).

    `budget` uses the attribute's spelling: an integer is a token count, a
    number with a decimal point a fraction in (0, 1] of the host tokens. The
    result is checked against the cache (e.g. a window larger than the cache's
    `max_tokens` is an error at the op).

    Options: `policy`, `sink`, `window`, `budget`, `block`, `tau`, declared once
    in `passes/PlacementOptions.h` (forEachPlacementOption) with the names,
    help and defaults every hgc entry point uses (`hgc compile/run/plan`,
    `hgc-runner`, `hgc-hybrid-pipeline`, the JIT); `hgc-opt --help` lists
    them.
  }];
  let dependentDialects = ["::mlir::hgc::HgcDialect"];
}

def SelectAheadPass : Pass<"hgc-select-ahead"> {
  let summary = "Select each layer's host candidates from a query predicted "
                "one layer ahead (ScoutAttention)";
  let description = [{
    For two consecutive `hgc.decode_attention` ops of one block (layers l and
    l+1), finds the residual stream layer l+1's query is computed from (the
    first residual add `x + f(x)` walking back from the query through what
    depends on layer l's attention) and the stream before layer l (residual
    inputs back to one that does not depend on it). It clones layer l+1's
    query computation (input norm, Wq, RoPE, reshapes) before layer l's
    attention with the earlier stream substituted, adds `hgc.preselect` over
    its cache's past (the keys and values before the step's token: what the
    `tensor.concat`s its `hgc.bind_kv` binds put first, or the insert_slice
    pair canonicalization makes of them; lengths less one) under layer l+1's
    placement with a window one token shorter, so the past's host tokens are
    exactly the step's (its own token is in the window), and gives layer
    l+1's decode attention the candidates as `preselected`. A step inside a
    run-time branch (`scf.if`: a query of run-time length, a mask checked per
    run) gets its candidates from an `scf.if` on the same condition, with the
    query's last steps from inside the branch; none when it does not run. The split then attends them with the real
    query; layer l+1's selection no longer depends on layer l.

    It applies to placements a step can take candidates for (two tiers, the
    second selecting without estimating the rest, no head overrides) and to
    steps of one block (not inside run-time branches); where the structure
    is not found the step keeps its own selection and the op gets a remark
    saying why. The first layer always selects for itself.
    `--policy scout` runs it after `hgc-place-kv`.
  }];
  let dependentDialects = ["::mlir::hgc::HgcDialect"];
  let statistics = [
    Statistic<"movedSelections", "moved-selections",
              "Selections moved one layer ahead">
  ];
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
    * a `quant_topk` tier reads its tokens' key codes (`hgc.kv_key_codes`),
      selects tokens by their approximate scores (with the tier's `mass`
      keep rule, when it has one) and attends them exactly;
    * `hgc.lse_merge` combines the partials (a single tier needs no merge);
      partials accumulate in f32 and the result is truncated back to the
      query's element type.

    Per-head overrides split into head groups (contiguous runs of KV heads
    under one placement): each group's views carry `first_head`, its query
    heads are a slice of the query, and the group outputs are inserted back
    in head order.

    Candidates given as `preselected` are the second tier's indices: the tier
    attends them instead of selecting. `hgc.preselect` (the selection a later
    step attends, chosen ahead from a predicted query) becomes that tier's
    view and selection, the same ops the split emits for a step.

    Decode attention without a placement is left alone (run `hgc-place-kv`
    first).
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

#endif // HGC_PASSES_PASSES_TD
