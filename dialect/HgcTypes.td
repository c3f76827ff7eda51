//===- HgcTypes.td - hgc types -------------------------------*- tablegen -*-===//

#ifndef HGC_DIALECT_HGCTYPES_TD
#define HGC_DIALECT_HGCTYPES_TD

include "dialect/HgcBase.td"
include "mlir/IR/BuiltinTypeInterfaces.td"

class Hgc_Type<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<Hgc_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

def Hgc_KVCacheType : Hgc_Type<"KVCache", "kv_cache"> {
  let summary = "a runtime-owned, multi-tier KV cache of one layer";
  let description = [{
    A handle to the KV cache of one attention layer for a batch of sequences.
    The runtime owns the memory: pages of `page_size` tokens, each holding
    `kv_heads x head_dim` keys and values of `elementType`, spread over the
    tiers a `#hgc.placement` names. `max_tokens` bounds the tokens per sequence
    (0 means unbounded); verifiers use it to check windows and budgets.

    ```mlir
    !hgc.kv_cache<8x128xf16>
    !hgc.kv_cache<8x128xbf16, page_size = 32, max_tokens = 131072>
    ```
  }];
  let parameters = (ins "int64_t":$kvHeads, "int64_t":$headDim,
                        "::mlir::Type":$elementType,
                        DefaultValuedParameter<"int64_t", "16">:$pageSize,
                        DefaultValuedParameter<"int64_t", "0">:$maxTokens);
  let builders = [
    TypeBuilderWithInferredContext<(ins "int64_t":$kvHeads, "int64_t":$headDim,
        "::mlir::Type":$elementType,
        CArg<"int64_t", "16">:$pageSize, CArg<"int64_t", "0">:$maxTokens), [{
      return $_get(elementType.getContext(), kvHeads, headDim, elementType,
                   pageSize, maxTokens);
    }]>
  ];
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Bytes of one token's keys plus values across all KV heads.
    int64_t getBytesPerToken() const;
    /// True when the cache has no per-sequence token bound.
    bool isUnbounded() const { return getMaxTokens() == 0; }
  }];
}

def Hgc_TokenType : Hgc_Type<"Token", "token"> {
  let summary = "completion token of an asynchronous hgc operation";
  let description = [{
    Produced by `hgc.transfer`; consumed by `hgc.wait` (and by later transfers
    that must be ordered after it).
  }];
}

#endif // HGC_DIALECT_HGCTYPES_TD
