//===- AttentionConfig.cpp - checked configurations and their IR ----------===//

#include "jit/Jit.h"
#include "passes/policies/PlacementPolicy.h"

#include "mlir/IR/Builders.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <iterator>
#include <map>

using namespace hgc::jit;

namespace {
Failure invalid(std::string message) {
  return {HGC_INVALID_ARGUMENT, std::move(message)};
}

const char *elementTypeName(hgc_dtype dtype) {
  switch (dtype) {
  case HGC_F32:
    return "f32";
  case HGC_F16:
    return "f16";
  case HGC_BF16:
    return "bf16";
  }
  return "?";
}

mlir::Type getElementType(mlir::MLIRContext *context, hgc_dtype dtype) {
  mlir::Builder builder(context);
  switch (dtype) {
  case HGC_F32:
    return builder.getF32Type();
  case HGC_F16:
    return builder.getF16Type();
  case HGC_BF16:
    return builder.getBF16Type();
  }
  return {};
}

/// An f32 as MLIR's exact hexadecimal literal.
std::string hexFloat(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return "0x" + llvm::utohexstr(bits, /*LowerCase=*/false, /*Width=*/8);
}
} // namespace

mlir::hgc::PlacementOptions
hgc::jit::toPlacementOptions(const hgc_placement &placement) {
  mlir::hgc::PlacementOptions options;
  options.policy = placement.policy;
  options.sink = placement.sink;
  options.window = placement.window;
  options.budget = placement.budget;
  options.block = placement.block;
  options.tau = placement.tau;
  if (placement.codebook)
    options.codebook = placement.codebook;
  options.channels = placement.channels;
  options.hostCapacity = placement.host_capacity;
  options.farCapacity = placement.far_capacity;
  if (placement.tail)
    options.tail = placement.tail;
  return options;
}

Failure AttentionConfig::fromC(const hgc_attention_config &c,
                               AttentionConfig &out) {
  if (c.q_heads <= 0 || c.kv_heads <= 0 || c.head_dim <= 0)
    return invalid("q_heads (" + std::to_string(c.q_heads) + "), kv_heads (" +
                   std::to_string(c.kv_heads) + ") and head_dim (" +
                   std::to_string(c.head_dim) + ") must be positive");
  if (c.q_heads % c.kv_heads != 0)
    return invalid("q_heads (" + std::to_string(c.q_heads) +
                   ") must be a multiple of kv_heads (" +
                   std::to_string(c.kv_heads) + ")");
  if (c.kv_dtype != HGC_F32 && c.kv_dtype != HGC_F16 && c.kv_dtype != HGC_BF16)
    return invalid("kv_dtype " + std::to_string(int(c.kv_dtype)) +
                   " is not HGC_F32, HGC_F16 or HGC_BF16");
  if (!(c.scale >= 0) || !(c.softcap >= 0))
    return invalid("scale and softcap must be >= 0 (0: default, none)");
  if (!c.placement.policy || !c.placement.budget)
    return invalid("placement.policy and placement.budget must be set "
                   "(hgc_attention_config_init)");
  if (c.num_overrides < 0 || (c.num_overrides > 0 && !c.overrides))
    return invalid("num_overrides is " + std::to_string(c.num_overrides) +
                   " but overrides is null");
  AttentionConfig config;
  config.qHeads = c.q_heads;
  config.kvHeads = c.kv_heads;
  config.headDim = c.head_dim;
  config.kvDtype = c.kv_dtype;
  config.scale = c.scale;
  config.softcap = c.softcap;
  config.causal = c.causal != 0;
  config.placement = toPlacementOptions(c.placement);
  if (!mlir::hgc::lookupPlacementPolicy(config.placement.policy))
    return invalid("unknown placement policy '" + config.placement.policy +
                   "', expected " + mlir::hgc::getPlacementPolicyNames());
  if (config.placement.sink < 0 || config.placement.window < 0)
    return invalid("placement sink and window must be >= 0");
  // Head ranges already overridden, by first head: overlaps are found per
  // range, not per head (kv_heads may be huge).
  std::map<int64_t, int64_t> taken; // first -> end
  for (int32_t i = 0; i < c.num_overrides; ++i) {
    const hgc_head_override &o = c.overrides[i];
    std::string which = "override " + std::to_string(i);
    if (!o.policy || !o.budget)
      return invalid(which + ": policy and budget must be set");
    if (o.kv_heads <= 0 || o.first_kv_head < 0 ||
        int64_t(o.first_kv_head) + o.kv_heads > c.kv_heads)
      return invalid(
          which + ": KV heads [" + std::to_string(o.first_kv_head) + ", " +
          std::to_string(int64_t(o.first_kv_head) + o.kv_heads) +
          ") are not within [0, " + std::to_string(c.kv_heads) + ")");
    int64_t first = o.first_kv_head, end = first + o.kv_heads;
    auto after = taken.upper_bound(first);
    if (after != taken.begin() && std::prev(after)->second > first)
      return invalid(which + ": KV head " + std::to_string(first) +
                     " is already overridden");
    if (after != taken.end() && after->first < end)
      return invalid(which + ": KV head " + std::to_string(after->first) +
                     " is already overridden");
    taken[first] = end;
    HeadPolicy head;
    head.firstKvHead = o.first_kv_head;
    head.kvHeads = o.kv_heads;
    head.placement = config.placement;
    head.placement.policy = o.policy;
    head.placement.budget = o.budget;
    if (o.block != 0)
      head.placement.block = o.block;
    if (o.tau != 0)
      head.placement.tau = o.tau;
    if (!mlir::hgc::lookupPlacementPolicy(head.placement.policy))
      return invalid(which + ": unknown policy '" + head.placement.policy +
                     "', expected " + mlir::hgc::getPlacementPolicyNames());
    config.overrides.push_back(std::move(head));
  }
  if (c.kv_block_size < 0 ||
      (c.kv_block_size > 0 && !llvm::isPowerOf2_32(c.kv_block_size)))
    return invalid("kv_block_size must be 0 (a runtime cache) or a power of "
                   "two, got " +
                   std::to_string(c.kv_block_size));
  if (c.kv_layout != HGC_KV_NHD && c.kv_layout != HGC_KV_HND)
    return invalid("kv_layout must be HGC_KV_NHD or HGC_KV_HND");
  config.kvBlockSize = c.kv_block_size;
  config.kvLayout = c.kv_layout;
  if (c.kv_summaries && c.kv_block_size <= 0)
    return invalid("kv_summaries are per-block summaries of paged KV: set "
                   "kv_block_size too");
  config.kvSummaries = c.kv_summaries != 0;
  if (!config.overrides.empty() &&
      !mlir::hgc::getPlacementPolicy(config.placement).splits())
    return invalid("per-head overrides refine a hybrid placement; policy '" +
                   config.placement.policy + "' has no host tier");
  out = std::move(config);
  return Failure::ok();
}

std::string AttentionConfig::describe() const {
  std::string text;
  llvm::raw_string_ostream os(text);
  auto placementText = [&](const mlir::hgc::PlacementOptions &p) {
    os << mlir::hgc::getPlacementKey(p);
  };
  os << "q_heads=" << qHeads << " kv_heads=" << kvHeads
     << " head_dim=" << headDim << " kv_dtype=" << elementTypeName(kvDtype)
     << " scale=" << hexFloat(scale) << " softcap=" << hexFloat(softcap)
     << " causal=" << causal << " ";
  placementText(placement);
  for (const HeadPolicy &head : overrides) {
    os << " heads[" << head.firstKvHead << "+" << head.kvHeads << "]:";
    placementText(head.placement);
  }
  if (kvBlockSize > 0)
    os << " paged=" << kvBlockSize << (kvLayout == HGC_KV_HND ? ":hnd" : ":nhd")
       << (kvSummaries ? ":summaries" : "") << (kvCodes ? ":codes" : "")
       << (kvChannels ? ":channels" : "") << (kvPq ? ":pq" : "");
  if (ahead == mlir::hgc::DecodeModuleSpec::Ahead::Select)
    os << " ahead=select";
  if (ahead == mlir::hgc::DecodeModuleSpec::Ahead::Consume)
    os << " ahead=consume";
  return text;
}

AttentionConfig hgc::jit::inPlaceConfig(const AttentionConfig &config,
                                        int32_t pageTokens) {
  AttentionConfig paged = config;
  paged.kvBlockSize = pageTokens;
  paged.kvLayout = HGC_KV_HND;
  // Other blocks are summarized from the keys, in place.
  paged.kvSummaries =
      mlir::hgc::getPlacementPolicy(config.placement).readsKeySummaries() &&
      config.placement.block == pageTokens && config.overrides.empty();
  // The runtime keeps every token's codes (a cache made for such a policy
  // quantizes keys on append).
  paged.kvCodes = mlir::hgc::getPlacementPolicy(config.placement)
                      .readsKeyCodes(config.placement) &&
                  config.overrides.empty();
  // ... and its channel-major keys and value sums (per page: the block).
  paged.kvChannels =
      mlir::hgc::getPlacementPolicy(config.placement).readsChannelKeys() &&
      config.overrides.empty();
  // ... and its product-quantized keys.
  paged.kvPq = mlir::hgc::getPlacementPolicy(config.placement)
                       .getProductQuantizer(config.placement)
                       .first > 0 &&
               config.overrides.empty();
  return paged;
}

mlir::hgc::DecodeModuleSpec
hgc::jit::getDecodeModuleSpec(const AttentionConfig &config,
                              mlir::hgc::PlacementAttr placement) {
  mlir::MLIRContext *context = placement.getContext();
  mlir::hgc::DecodeModuleSpec spec;
  spec.entry = kDecodeEntry;
  spec.queryHeads = config.qHeads;
  spec.kvHeads = config.kvHeads;
  spec.headDim = config.headDim;
  spec.kvElementType = getElementType(context, config.kvDtype);
  // Paged KV, bound where it is (the engine's blocks or the runtime's pages).
  spec.blockSize = config.kvBlockSize;
  spec.headsMajor = config.kvLayout == HGC_KV_HND;
  if (config.kvSummaries)
    spec.summaryBlock = config.placement.block;
  spec.keyCodes = config.kvCodes;
  spec.channelKeys = config.kvChannels;
  spec.valueBlock = config.kvChannels ? config.kvBlockSize : 0;
  if (config.kvPq)
    std::tie(spec.pqSubspaces, spec.pqCentroids) =
        mlir::hgc::getPlacementPolicy(config.placement)
            .getProductQuantizer(config.placement);
  if (config.scale > 0)
    spec.scale = config.scale;
  spec.softcap = config.softcap;
  spec.placement = placement;
  spec.ahead = config.ahead;
  return spec;
}
