//===- HgcAttrs.td - hgc attributes --------------------------*- tablegen -*-===//

#ifndef HGC_DIALECT_HGCATTRS_TD
#define HGC_DIALECT_HGCATTRS_TD

include "dialect/HgcBase.td"

class Hgc_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Hgc_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Hgc_TierPolicyAttr : Hgc_Attr<"TierPolicy", "tier_policy"> {
  let summary = "how one tier's resident tokens are attended";
  let description = [{
    `tier = selection[(options)]`. `dense` attends every resident token. The
    sparse selections attend a subset chosen per (sequence, KV head):

    * `exact_topk(budget = B)`: the B tokens with the highest exact scores
      (HGCA);
    * `block_topk(budget = B, block = N)`: the B blocks of N tokens with the
      highest upper-bound score from per-block key min/max summaries
      (Quest, ScoutAttention); N is a power of two, default 16;
    * `quant_topk(budget = B, bits = b)`: top-B tokens scored from keys
      quantized to b = 8 or 4 bits (HCAttention).
    * `pq_topk(budget = B, subspaces = G, centroids = C)`: top-B tokens
      scored from product-quantized keys: head_dim in G sub-vectors, each
      coded as one of C centroids (a power of two up to 65536; defaults 16
      and 256), q . centroid looked up per sub-space (HCAttention's PQ).
    * `channel_topk(budget = B, channels = r)`: top-B tokens scored on the r
      channels where the query is largest in magnitude (SparQ; default r =
      32), and the tokens left out folded in as the mean of the tier's values
      weighted by the mass they hold under those scores (InstInfer's SparF).

    A token selection (`exact_topk`, `quant_topk`, `pq_topk`) may add
    `mass = tau` in
    (0, 1]: it keeps the smallest set of top-scoring tokens whose softmax
    mass under its scores reaches tau, the budget a hard cap on that set
    (HCAttention's keep rule).

    `tail = summary` (any selection) estimates the tokens the selection
    leaves out instead of dropping them: the tier's tokens in blocks of 16
    by position, each block's unselected tokens summarized by their count,
    key mean, per-channel key variance and value mean, contribute
    log(count) + scale q.mean + scale^2 (q^2 . variance) / 2 to the
    log-sum-exp (the lognormal mass of Gaussian scores; after `exact_topk`,
    which scored every token, the exact log-sum-exp of their scores) and
    their value mean to the output: one more partial (`hgc.tail_estimate`)
    in the tier's merge. Exact when every token is selected (nothing is left to estimate);
    `channel_topk` then estimates with it instead of its mean fold.

    A budget is a token (or block) count when written as an integer and a
    fraction of the tier's resident tokens in (0, 1] when written as a float.

    `capacity = N` (any selection, `dense(capacity = N)` included) bounds
    the tokens a tier between the first and the last holds: it keeps the
    oldest N tokens past the sinks, and the tokens it has no room for live
    on the tiers after it (as the KV runtime spills pages down a full tier).

    ```mlir
    #hgc.tier_policy<device = dense>
    #hgc.tier_policy<host = exact_topk(budget = 0.05)>
    #hgc.tier_policy<host = block_topk(budget = 64, block = 16)>
    #hgc.tier_policy<storage = quant_topk(budget = 512, bits = 4)>
    #hgc.tier_policy<host = quant_topk(budget = 0.1, bits = 8, mass = 0.9)>
    #hgc.tier_policy<host = pq_topk(budget = 0.1, subspaces = 16, centroids = 256)>
    #hgc.tier_policy<host = exact_topk(budget = 0.05, capacity = 65536)>
    #hgc.tier_policy<storage = channel_topk(budget = 0.05, channels = 32)>
    #hgc.tier_policy<host = exact_topk(budget = 0.05, tail = summary)>
    ```
  }];
  let parameters = (ins "::mlir::hgc::Tier":$tier,
                        "::mlir::hgc::Selection":$selection,
                        DefaultValuedParameter<"int64_t", "0">:$budgetTokens,
                        DefaultValuedParameter<"::llvm::APFloat", "::llvm::APFloat(0.0)">:$budgetFraction,
                        DefaultValuedParameter<"int64_t", "0">:$blockSize,
                        DefaultValuedParameter<"int64_t", "0">:$quantBits,
                        DefaultValuedParameter<"::llvm::APFloat", "::llvm::APFloat(0.0)">:$massThreshold,
                        DefaultValuedParameter<"int64_t", "0">:$pqSubspaces,
                        DefaultValuedParameter<"int64_t", "0">:$pqCentroids,
                        DefaultValuedParameter<"int64_t", "0">:$channels,
                        DefaultValuedParameter<"int64_t", "0">:$capacity,
                        DefaultValuedParameter<"::mlir::hgc::Tail", "::mlir::hgc::Tail::None">:$tail);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    bool isDense() const { return getSelection() == Selection::Dense; }
    /// `tier = dense`.
    static TierPolicyAttr getDense(::mlir::MLIRContext *context, Tier tier);
    /// This policy on `tier` holding at most `capacity` tokens (0: every
    /// token the tiers before it have no room for).
    TierPolicyAttr withTier(Tier tier, int64_t capacity) const;
    /// The keep rule's mass threshold tau, when the selection has one.
    std::optional<double> getMass() const {
      double mass = getMassThreshold().convertToDouble();
      return mass > 0.0 ? std::optional<double>(mass) : std::nullopt;
    }
    /// Tokens attended on this tier when it holds `residentTokens` of one
    /// sequence and KV head: every token for dense, else the budget (in
    /// tokens, blocks converted to tokens) clamped to what is resident.
    int64_t getAttendedTokens(int64_t residentTokens) const;
    /// Bytes one (sequence, KV head) step reads on this tier when it holds
    /// `residentTokens` of `headDim`-wide keys and values of `elementBytes`
    /// each: what the selection scores (every key for exact_topk, a key
    /// minimum and maximum per block for block_topk, an i8 code per element
    /// and an f32 scale per token for quant_topk, a code per sub-space and
    /// the codebook for pq_topk; for channel_topk the chosen channels' rows
    /// of the channel-major keys and the value sums of the tier's blocks),
    /// then the attended tokens' keys and values (an upper bound under a
    /// mass rule). What the cache does not keep (`kept`) is made from the
    /// keys and values: quant_topk reads the keys to quantize them,
    /// channel_topk reads every key to transpose it and every value for the
    /// mean, a summary tail every key and value for its blocks' moments.
    double getStepReadBytes(int64_t residentTokens, int64_t headDim,
                            int64_t elementBytes,
                            const KeptWithKV &kept = {}) const;
    /// Print the body `tier = selection(...)` without the attribute prefix.
    void printBody(::mlir::AsmPrinter &printer) const;
    /// Parse the body printed by printBody.
    static TierPolicyAttr parseBody(::mlir::AsmParser &parser);
  }];
}

def Hgc_PlacementAttr : Hgc_Attr<"Placement", "placement"> {
  let summary = "where the KV tokens of an attention live and how they are read";
  let description = [{
    `tiers` lists tier policies fastest first, each tier at most once and in
    tier order (device, host, cxl, storage). The hot set, the first `sink`
    tokens (attention sinks) and the last `window` tokens (recent window),
    lives on the first tier; every other token lives on the second tier, or,
    when the middle tiers have a `capacity`, the oldest on the second tier up
    to its capacity, the next on the third, and so on, the last tier holding
    the rest (the order in which the KV runtime fills and spills its tiers).
    Every middle tier has a capacity; the first and last have none. With one tier all
    tokens live there and `sink`/`window` must be 0; with several tiers the
    hot set must be non-empty.

    `heads` overrides the placement for chosen KV heads with a nested placement
    (HeadInfer's head-wise offload, Fluxion's per-head budgets). A KV head
    appears in at most one override; nested placements have no overrides.

    ```mlir
    // Everything on the device, exact.
    #hgc.placement<tiers = [device = dense]>
    // HGCA: sinks and recent window dense on the device, the rest on the host
    // attended over a per-head exact top-5%.
    #hgc.placement<sink = 4, window = 1024,
                   tiers = [device = dense, host = exact_topk(budget = 0.05)]>
    // ... with KV heads 6 and 7 entirely on the host, exact.
    #hgc.placement<sink = 4, window = 1024,
                   tiers = [device = dense, host = exact_topk(budget = 0.05)],
                   heads = [[6, 7] = <tiers = [host = dense]>]>
    // SparF: 64K cold tokens on the host, the rest in storage.
    #hgc.placement<sink = 4, window = 1024,
                   tiers = [device = dense,
                            host = channel_topk(budget = 0.05, capacity = 65536),
                            storage = channel_topk(budget = 0.05)]>
    ```
  }];
  let parameters = (ins
      DefaultValuedParameter<"int64_t", "0">:$sink,
      DefaultValuedParameter<"int64_t", "0">:$window,
      ArrayRefParameter<"::mlir::hgc::TierPolicyAttr">:$tiers,
      OptionalArrayRefParameter<"::mlir::hgc::HeadPlacementAttr">:$heads);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The placement that applies to KV head `kvHead` (an override or this).
    PlacementAttr getForHead(int64_t kvHead) const;
    /// The policy of `tier`, or null when the placement does not use it.
    TierPolicyAttr getTierPolicy(Tier tier) const;
    /// Tokens of a sequence of `seqLen` tokens resident on each listed tier.
    ::llvm::SmallVector<int64_t> getResidentTokens(int64_t seqLen) const;
    /// Position of the first token of tier `index` (> 0) past the sinks:
    /// the sink count plus the capacities of the tiers between.
    int64_t getTierStart(size_t index) const;
    /// Largest KV head index named by an override, or -1.
    int64_t getMaxOverriddenHead() const;
    void printBody(::mlir::AsmPrinter &printer) const;
    static PlacementAttr parseBody(::mlir::AsmParser &parser, bool allowHeads);
  }];
}

def Hgc_HeadPlacementAttr : Hgc_Attr<"HeadPlacement", "head_placement"> {
  let summary = "a placement override for a set of KV heads";
  let description = [{
    ```mlir
    #hgc.head_placement<[0, 3] = <tiers = [device = dense]>>
    ```
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$heads,
                        "::mlir::hgc::PlacementAttr":$placement);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    void printBody(::mlir::AsmPrinter &printer) const;
    static HeadPlacementAttr parseBody(::mlir::AsmParser &parser);
  }];
}

#endif // HGC_DIALECT_HGCATTRS_TD
