//===- Plan.cpp - the placement plan of a model's attention --------------===//

#include "tools/hgc/Plan.h"

#include "codegen/GpuKernels.h"
#include "codegen/Pipelines.h"
#include "dialect/HgcOps.h"
#include "passes/Passes.h"
#include "passes/policies/PlacementPolicy.h"

#include "mlir/Interfaces/LoopLikeInterface.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/Format.h"

using namespace mlir;
using namespace mlir::hgc;

namespace {
std::string nameOf(Operation *op) {
  std::string name;
  op->getLoc()->walk([&](Location loc) {
    if (auto named = dyn_cast<NameLoc>(loc)) {
      name = named.getName().str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return name.empty() ? "<unnamed>" : name;
}

std::string bytesText(double bytes) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%.1f ", bytes) << units[unit];
  return text;
}

std::string selectionText(TierPolicyAttr policy) {
  std::string text = stringifySelection(policy.getSelection()).str();
  if (policy.isDense())
    return text;
  llvm::raw_string_ostream os(text);
  bool byBlock = policy.getSelection() == Selection::BlockTopK;
  if (policy.getBudgetTokens() > 0)
    os << " budget " << policy.getBudgetTokens()
       << (byBlock ? " blocks" : " tokens");
  else
    os << " budget "
       << llvm::format("%g", policy.getBudgetFraction().convertToDouble());
  if (byBlock)
    os << " (blocks of " << policy.getBlockSize() << ")";
  if (policy.getSelection() == Selection::ChannelTopK)
    os << " channels " << policy.getChannels();
  if (std::optional<double> mass = policy.getMass())
    os << " mass " << llvm::format("%g", *mass);
  if (policy.getTail() == Tail::Summary)
    os << " tail summary";
  return text;
}

/// Why a tier reads more than its selection needs: what the KV does not
/// keep for it.
StringRef readsNote(TierPolicyAttr policy, const KeptWithKV &kept) {
  if (policy.getTail() == Tail::Summary && !kept.tailMoments)
    return policy.getSelection() == Selection::ExactTopK
               ? " (no block moments kept with the KV: its tail estimate "
                 "reads every value)"
               : " (no block moments kept with the KV: its tail estimate "
                 "reads every key and value)";
  if (policy.getSelection() == Selection::QuantTopK && !kept.keyCodes)
    return " (no codes kept with the KV: quantizes its keys each step)";
  if (policy.getSelection() != Selection::ChannelTopK)
    return "";
  if (!kept.channelKeys && kept.valueBlock == 0)
    return " (no channel-major keys or value sums kept with the KV: reads "
           "every key and value)";
  if (!kept.channelKeys)
    return " (no channel-major keys kept with the KV: reads every key)";
  if (kept.valueBlock == 0)
    return " (no value sums kept with the KV: reads every value)";
  return "";
}

/// The device kernel that would attend `tokens` device tokens of `op`.
void printKernel(DecodeAttentionOp op, int64_t tokens,
                 const TargetOptions &target, llvm::raw_ostream &os) {
  auto query = cast<RankedTensorType>(op.getQuery().getType());
  auto cacheType = cast<KVCacheType>(op.getCache().getType());
  gpu_kernels::DecodeKernelConfig config;
  config.qHeads = query.getDimSize(1);
  config.kvHeads = cacheType.getKvHeads();
  config.headDim = cacheType.getHeadDim();
  config.queryElement = query.getElementType();
  config.kvElement = cacheType.getElementType();
  std::string why;
  FailureOr<gpu_kernels::DecodeKernelPlan> plan =
      gpu_kernels::planDecodeKernel(config, why);
  os << "  kernel  " << target.chip << ": ";
  if (failed(plan)) {
    os << "none (" << why << ")\n";
    return;
  }
  int64_t batch = query.getDimSize(0);
  int64_t splitTokens =
      gpu_kernels::splitTokensFor(*plan, tokens, batch * config.kvHeads);
  int64_t splits = std::max<int64_t>(1, llvm::divideCeil(tokens, splitTokens));
  int64_t bytes = config.kvElement.getIntOrFloatBitWidth() / 8;
  os << "grid (" << splits << ", " << config.kvHeads << ", " << batch << ") x "
     << plan->threads() << " threads (" << plan->warps << " warps x "
     << plan->headsPerWarp << " q heads), " << plan->vectorElements * bytes
     << "-byte loads, " << plan->lanesPerToken << " lanes per row, tiles of "
     << plan->tileTokens << " tokens (" << bytesText(plan->sharedBytes)
     << " shared), splits of " << splitTokens << " tokens\n";
}

/// Attention in a loop (an imported scan over layers) is placed once and
/// runs every iteration with that placement.
StringRef loopNote(Operation *op) {
  return op->getParentOfType<LoopLikeOpInterface>()
             ? ", in a loop body (one placement, every iteration)"
             : "";
}

void printDecode(DecodeAttentionOp op, const TargetOptions &target,
                 llvm::raw_ostream &os) {
  auto query = cast<RankedTensorType>(op.getQuery().getType());
  auto cacheType = cast<KVCacheType>(op.getCache().getType());
  auto bind = op.getCache().getDefiningOp<BindKVOp>();
  os << "attention '" << nameOf(op) << "': decode step, batch "
     << query.getDimSize(0) << ", q_heads " << query.getDimSize(1)
     << ", kv_heads " << cacheType.getKvHeads() << ", head_dim "
     << cacheType.getHeadDim() << ", kv " << cacheType.getElementType();
  if (!bind || bind.isPaged()) {
    os << ", tokens known at run time (" << (bind ? "paged" : "runtime")
       << " cache)" << loopNote(op) << "\n";
    return;
  }
  auto key = cast<RankedTensorType>(bind.getKey().getType());
  auto value = cast<RankedTensorType>(bind.getValue().getType());
  int64_t tokens = key.getDimSize(2);
  if (ShapedType::isDynamic(tokens)) {
    // Token counts per tier follow the run's length: give it (--dim, or
    // --value for a length input) to see them.
    os << ", tokens per sequence known at run time" << loopNote(op) << "\n";
    PlacementAttr placement = op.getPlacementAttr();
    if (!placement) {
      os << "  device  dense\n";
      return;
    }
    for (TierPolicyAttr policy : placement.getTiers())
      os << "  " << llvm::left_justify(stringifyTier(policy.getTier()), 7)
         << " " << selectionText(policy) << "\n";
    return;
  }
  os << ", " << tokens << " tokens per sequence" << loopNote(op) << "\n";
  int64_t elementBytes = cacheType.getElementType().getIntOrFloatBitWidth() / 8;
  double bytesPerToken = double(key.getDimSize(0)) * cacheType.getKvHeads() *
                         double(key.getDimSize(3) + value.getDimSize(3)) *
                         double(elementBytes);
  double heads = double(key.getDimSize(0)) * cacheType.getKvHeads();
  PlacementAttr placement = op.getPlacementAttr();
  if (!placement) {
    os << "  device  dense  tokens " << tokens << " (100.0%)  "
       << bytesText(bytesPerToken * tokens) << "  attended " << tokens << "\n";
    if (target.target == "nvptx")
      printKernel(op, tokens, target, os);
    return;
  }
  SmallVector<int64_t> resident = placement.getResidentTokens(tokens);
  // A model's past KV comes without the codes, copies and sums an engine or
  // the KV runtime keeps on append.
  KeptWithKV kept;
  kept.keyCodes = static_cast<bool>(bind.getKeyCodes());
  kept.channelKeys = static_cast<bool>(bind.getChannelKeys());
  kept.valueBlock = bind.getValueBlock() ? int64_t(*bind.getValueBlock()) : 0;
  for (auto [policy, count] : llvm::zip(placement.getTiers(), resident)) {
    os << "  " << llvm::left_justify(stringifyTier(policy.getTier()), 7) << " "
       << llvm::left_justify(selectionText(policy), 26) << " tokens " << count
       << " (" << llvm::format("%.1f%%", tokens ? 100.0 * count / tokens : 0.0)
       << ")  " << bytesText(bytesPerToken * count) << "  attended "
       << (policy.getMass() ? "<= " : "") << policy.getAttendedTokens(count)
       << " per kv head  reads " << (policy.getMass() ? "<= " : "")
       << bytesText(heads * policy.getStepReadBytes(count,
                                                    cacheType.getHeadDim(),
                                                    elementBytes, kept))
       << " per step" << readsNote(policy, kept) << "\n";
    if (target.target == "nvptx" && policy.getTier() == Tier::Device &&
        policy.isDense())
      printKernel(op, count, target, os);
  }
}
} // namespace

LogicalResult hgc::printPlan(ModuleOp module, const PlacementOptions &options,
                             const TargetOptions &target,
                             llvm::raw_ostream &os) {
  PassManager pm(module.getContext());
  buildPlacementPipeline(pm, options);
  if (failed(pm.run(module)))
    return failure();
  os << "placement: policy " << options.policy << ", sink " << options.sink
     << ", window " << options.window << ", budget " << options.budget;
  const PlacementPolicy *policy = lookupPlacementPolicy(options.policy);
  if (policy && policy->usesBlocks())
    os << ", block " << options.block;
  if (policy && policy->usesMass())
    os << ", tau " << llvm::format("%g", options.tau);
  if (policy && policy->usesChannels())
    os << ", channels " << options.channels;
  if (policy && policy->splits() && options.hostCapacity > 0)
    os << ", host capacity " << options.hostCapacity;
  if (policy && policy->splits() && options.farCapacity > 0)
    os << ", far capacity " << options.farCapacity;
  if (policy && policy->splits()) {
    FailureOr<Tail> tail =
        parseTailOption(options, [&] { return emitError(module.getLoc()); });
    if (succeeded(tail) && *tail != Tail::None)
      os << ", tail " << stringifyTail(*tail) << " (the host tokens left out "
         << "estimated from their blocks' moments)";
  }
  os << "\n";
  if (policy && policy->calibrates())
    os << "per-head budgets: the same budget for every KV head here; the JIT "
          "calibrates each head's on a cache's scores (hgc_calibrate)\n";
  int64_t count = 0;
  module.walk([&](Operation *op) {
    if (auto decode = dyn_cast<DecodeAttentionOp>(op)) {
      printDecode(decode, target, os);
      if (decode.getPreselected())
        os << "  host candidates chosen one layer ahead, from the query "
              "predicted from the layer before (hgc-select-ahead)\n";
      ++count;
    } else if (op->hasAttr(kDenseFallbackAttr)) {
      os << "attention '" << nameOf(op) << "': runs dense instead when the "
         << "run is not one token over a padding mask (checked per run)\n";
    } else if (auto attention = dyn_cast<AttentionOp>(op)) {
      auto q = cast<RankedTensorType>(attention.getQuery().getType());
      os << "attention '" << nameOf(op) << "': not a decode step over a "
         << "cache (query " << q << "): exact on the device tier"
         << loopNote(op) << "\n";
      ++count;
    }
  });
  if (count == 0)
    os << "no attention in the model\n";
  return success();
}
