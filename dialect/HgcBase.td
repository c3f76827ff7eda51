//===- HgcBase.td - hgc dialect definition -------------------*- tablegen -*-===//
//
// The hgc dialect: attention with KV placement annotations, and the split-level
// ops a hybrid CPU-GPU decode step is built from.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_DIALECT_HGCBASE_TD
#define HGC_DIALECT_HGCBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Hgc_Dialect : Dialect {
  let name = "hgc";
  let cppNamespace = "::mlir::hgc";
  let summary = "Hybrid CPU-GPU attention with KV placement";
  let description = [{
    The `hgc` dialect represents attention for long-context decoding where the
    KV cache is spread over memory tiers. Two levels coexist:

    * **Model level**: `hgc.attention` carries ONNX `Attention` (opset 23)
      semantics on tensors; `hgc.decode_attention` is one decode step of one
      layer against a runtime-owned `!hgc.kv_cache`, annotated with a
      `#hgc.placement` that says which tokens live on which tier and how each
      tier is attended (dense or a selected sparse subset).
    * **Split level**: what the split passes produce. `hgc.kv_view` exposes the
      tokens resident on one tier, `hgc.select` picks the tokens (or blocks) a
      tier attends, `hgc.partial_attention` attends them and returns the output
      with its log-sum-exp, `hgc.transfer`/`hgc.wait` move values between tiers
      asynchronously, and `hgc.lse_merge` combines the partials exactly.

    Conventions: decode queries are `[batch, q_heads, head_dim]`; KV tensors are
    `[batch, kv_heads, tokens, head_dim]`; `q_heads` is a multiple of
    `kv_heads` (grouped-query attention: query head `h` reads KV head
    `h / (q_heads / kv_heads)`); log-sum-exp values are natural-log float32.
  }];
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    // Defined beside the type and attribute storage they need.
    void registerTypes();
    void registerAttributes();
  }];
}

class Hgc_Op<string mnemonic, list<Trait> traits = []>
    : Op<Hgc_Dialect, mnemonic, traits>;

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Hgc_TierDevice : I32EnumAttrCase<"Device", 0, "device">;
def Hgc_TierHost : I32EnumAttrCase<"Host", 1, "host">;
def Hgc_TierCxl : I32EnumAttrCase<"Cxl", 2, "cxl">;
def Hgc_TierStorage : I32EnumAttrCase<"Storage", 3, "storage">;

def Hgc_Tier : I32EnumAttr<"Tier",
    "memory tier holding KV, fastest first",
    [Hgc_TierDevice, Hgc_TierHost, Hgc_TierCxl, Hgc_TierStorage]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::hgc";
}

def Hgc_TierAttr : EnumAttr<Hgc_Dialect, Hgc_Tier, "tier"> {
  let summary = "a memory tier: device, host, cxl or storage";
  let assemblyFormat = "`<` $value `>`";
}

def Hgc_SelectDense : I32EnumAttrCase<"Dense", 0, "dense">;
def Hgc_SelectExactTopK : I32EnumAttrCase<"ExactTopK", 1, "exact_topk">;
def Hgc_SelectBlockTopK : I32EnumAttrCase<"BlockTopK", 2, "block_topk">;
def Hgc_SelectQuantTopK : I32EnumAttrCase<"QuantTopK", 3, "quant_topk">;
def Hgc_SelectPqTopK : I32EnumAttrCase<"PqTopK", 4, "pq_topk">;
def Hgc_SelectChannelTopK : I32EnumAttrCase<"ChannelTopK", 5, "channel_topk">;

def Hgc_Selection : I32EnumAttr<"Selection",
    "how the tokens resident on a tier are chosen for attention",
    [Hgc_SelectDense, Hgc_SelectExactTopK, Hgc_SelectBlockTopK,
     Hgc_SelectQuantTopK, Hgc_SelectPqTopK, Hgc_SelectChannelTopK]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::hgc";
}

def Hgc_TailNone : I32EnumAttrCase<"None", 0, "none">;
def Hgc_TailSummary : I32EnumAttrCase<"Summary", 1, "summary">;

def Hgc_Tail : I32EnumAttr<"Tail",
    "how a sparse tier accounts for the tokens its selection leaves out",
    [Hgc_TailNone, Hgc_TailSummary]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::hgc";
}

def Hgc_SelectionAttr : EnumAttr<Hgc_Dialect, Hgc_Selection, "selection"> {
  let summary = "a selection policy: dense, exact_topk, block_topk, quant_topk, "
                "pq_topk, channel_topk";
  let assemblyFormat = "`<` $value `>`";
}

#endif // HGC_DIALECT_HGCBASE_TD
