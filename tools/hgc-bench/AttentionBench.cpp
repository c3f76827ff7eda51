//===- AttentionBench.cpp - hgc-bench attention --------------------------===//

#include "AttentionBench.h"
#include "BenchInputs.h"
#include "RuntimeOwnedBench.h"
#include "Timing.h"

#include "codegen/Pipelines.h"
#include "exec/DecodeModule.h"
#include "exec/HostExecution.h"
#include "passes/policies/PlacementPolicy.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <vector>

using namespace mlir;

namespace {
constexpr int64_t kQueryHeads = 32, kKVHeads = 8, kHeadDim = 128;

/// Sparse rows keep the sinks and a recent window dense on the device tier.
constexpr int64_t kSink = 16, kWindow = 64;
/// Tokens per block of the value sums an engine keeps for sparf.
constexpr int64_t kValueBlock = 64;

struct Shape {
  std::string mode; // dense | sparse
  int64_t batch, context;
  std::string dtype;           // f32 | f16 | bf16
  double budget;               // host fraction attended (sparse); 1 for dense
  std::string policy = "full"; // full (dense) | hgca | hca | quest | sparf
  int64_t block = 0;           // quest: tokens per selected block
  /// Engine-owned paged KV (vLLM's NHD blocks of this many tokens, a
  /// shuffled block table) read in place; 0: one bound buffer per tensor.
  int64_t pagedBlock = 0;
  bool headsMajor = false; // paged blocks [kv_heads, block, head_dim] (HND)
  /// Pages of pagedBlock tokens that the KV runtime owns, decoded through
  /// libhgc (hgc_decode), instead of blocks the engine owns.
  bool runtimeOwned = false;
  /// hca's codebook: int8, or pq<G>x<C> (codes and codebooks bound).
  std::string codebook = "int8";
};

/// Whether the row's policy selects blocks scored from key summaries
/// (quest), which the engine keeps and binds, rather than tokens.
bool readsSummaries(const Shape &s) {
  const mlir::hgc::PlacementPolicy *policy =
      mlir::hgc::lookupPlacementPolicy(s.policy);
  return policy && policy->readsKeySummaries();
}

/// Sinks of a sparse row: quest keeps whole blocks of them, so its host tier
/// starts on a block boundary and reads the bound summaries in place.
int64_t sinkOf(const Shape &s) {
  return readsSummaries(s) ? std::max(kSink, s.block) : kSink;
}

/// The row's placement options: the policy's defaults but for sink, window,
/// block and budget.
hgc::PlacementOptions placementOf(const Shape &s) {
  hgc::PlacementOptions placement;
  if (s.mode != "sparse")
    return placement;
  placement.policy = s.policy;
  placement.sink = sinkOf(s);
  placement.window = kWindow;
  if (s.block)
    placement.block = s.block;
  placement.budget = std::to_string(s.budget);
  placement.codebook = s.codebook;
  return placement;
}

/// The row's placement, or null (its error printed).
hgc::PlacementAttr placementAttrOf(const Shape &s) {
  static MLIRContext context;
  context.loadDialect<hgc::HgcDialect>();
  FailureOr<hgc::PlacementAttr> placement =
      hgc::buildPlacement(&context, placementOf(s), [&] {
        return mlir::emitError(UnknownLoc::get(&context));
      });
  return succeeded(placement) ? *placement : hgc::PlacementAttr();
}

/// The host tier's selection of a sparse row over KV bound whole (dense
/// when it has none).
hgc::Selection hostSelection(const Shape &s) {
  hgc::PlacementAttr placement = placementAttrOf(s);
  if (s.pagedBlock || !placement || placement.getTiers().size() < 2)
    return hgc::Selection::Dense;
  return placement.getTiers()[1].getSelection();
}

/// Whether the row binds the engine's int8 key codes (hca, int8 codebook).
bool readsCodes(const Shape &s) {
  return hostSelection(s) == hgc::Selection::QuantTopK;
}

/// Whether the row binds the engine's channel-major keys and value sums
/// (sparf).
bool readsChannels(const Shape &s) {
  return hostSelection(s) == hgc::Selection::ChannelTopK;
}

/// The row's product quantizer (sub-spaces, centroids) when it binds the
/// engine's product-quantized codes (hca, pq codebook).
std::optional<std::pair<int64_t, int64_t>> productQuantizer(const Shape &s) {
  if (hostSelection(s) != hgc::Selection::PqTopK)
    return std::nullopt;
  hgc::TierPolicyAttr host = placementAttrOf(s).getTiers()[1];
  return std::make_pair(host.getPqSubspaces(), host.getPqCentroids());
}

struct Row {
  std::string system;
  Shape shape;
  double timeMs = 0, bytes = 0;
  std::optional<double> speedupVsOrt, speedupVsIree;
  /// hgc's dense rows: against the fastest peer that ran the shape.
  std::optional<double> speedupVsFastest;
  std::string fastestPeer;
  /// Sparse: the selection alone, as a share of the whole step.
  std::optional<double> selectionShare;
  /// A peer that could not run the shape keeps its row, with why.
  bool ran = true;
  std::string note;
};

/// What a decode step reads on one tier of a row's placement.
struct TierRead {
  hgc::Tier tier;
  int64_t tokens; // per sequence
  double bytes;   // per step, every sequence and KV head
};

/// Per tier of the row's placement, the KV bytes a step reads there
/// (TierPolicyAttr::getStepReadBytes): dense reads every key and value;
/// sparse reads the device tier's sink + window densely, then what the host
/// selection scores (hgca every key, quest two summaries per block, hca an
/// int8 code per element and a scale per token, sparf its chosen channels'
/// rows of the channel-major keys and the value sums of whole blocks), then
/// the selected keys and values (hca's mass rule may keep fewer than its
/// budget: an upper bound, which random keys reach).
std::vector<TierRead> tierReads(const Shape &s) {
  std::vector<TierRead> reads;
  hgc::PlacementAttr placement = placementAttrOf(s);
  if (!placement)
    return reads;
  // What the row binds beside the KV: codes (hca), channel-major keys and
  // value sums (sparf).
  hgc::KeptWithKV kept;
  kept.valueBlock = kValueBlock;
  for (auto [tier, resident] :
       llvm::zip(placement.getTiers(), placement.getResidentTokens(s.context)))
    reads.push_back({tier.getTier(), resident,
                     tier.getStepReadBytes(resident, kHeadDim,
                                           getElementBytes(s.dtype), kept) *
                         double(s.batch) * kKVHeads});
  return reads;
}

double bytesTouched(const Shape &s) {
  double total = 0;
  for (const TierRead &read : tierReads(s))
    total += read.bytes;
  return total;
}

std::string tensorType(llvm::ArrayRef<int64_t> shape, llvm::StringRef elt) {
  std::string text = "tensor<";
  for (int64_t d : shape)
    text += std::to_string(d) + "x";
  return text + elt.str() + ">";
}

int64_t summaryBlocks(const Shape &s) {
  return s.block ? (s.context + s.block - 1) / s.block : 0;
}

/// One decode step: over engine-owned paged KV (caches of blocks, a block
/// table and lengths) or over a bound cache. Quest binds the engine's
/// per-block key summaries with it (kept on append, as the KV runtime keeps
/// its page summaries), so selection reads them instead of every key.
OwningOpRef<ModuleOp> decodeProgram(MLIRContext *context, const Shape &s) {
  Builder builder(context);
  hgc::DecodeModuleSpec spec;
  spec.entry = "main";
  spec.batch = s.batch;
  spec.queryHeads = kQueryHeads;
  spec.kvHeads = kKVHeads;
  spec.headDim = kHeadDim;
  spec.kvElementType = s.dtype == "f32"   ? builder.getF32Type()
                       : s.dtype == "f16" ? builder.getF16Type()
                                          : builder.getBF16Type();
  spec.tokens = s.context;
  if (s.pagedBlock) {
    spec.blockSize = s.pagedBlock;
    spec.blocks = s.batch * s.context / s.pagedBlock;
    spec.maxBlocks = s.context / s.pagedBlock;
    spec.headsMajor = s.headsMajor;
  }
  if (readsSummaries(s)) {
    spec.summaryBlock = s.block;
    spec.summaryBlocks = summaryBlocks(s);
  }
  spec.keyCodes = readsCodes(s);
  if (auto pq = productQuantizer(s)) {
    spec.pqSubspaces = pq->first;
    spec.pqCentroids = pq->second;
  }
  spec.channelKeys = readsChannels(s);
  spec.valueBlock = readsChannels(s) ? kValueBlock : 0;
  return hgc::buildDecodeModule(context, spec);
}

/// hca's selection alone, at the split level, with the mass rule:
/// quant_topk over the host tier's slice of the bound int8 codes and scales,
/// or pq_topk over its slice of the bound pq codes and the codebooks.
std::string codesSelectionProgram(const Shape &s) {
  int64_t host = std::max<int64_t>(0, s.context - sinkOf(s) - kWindow);
  std::optional<std::pair<int64_t, int64_t>> pq = productQuantizer(s);
  // Codes [b, h, tokens, width] and, second, scales [b, h, tokens] or
  // codebooks [b, h, G, C, w] (not sliced).
  int64_t width = pq ? pq->first : kHeadDim;
  std::string codeType = pq && pq->second > 256 ? "i16" : "i8";
  auto bhw = [&](int64_t tokens) {
    return SmallVector<int64_t>{s.batch, kKVHeads, tokens, width};
  };
  std::string codes = tensorType(bhw(s.context), codeType),
              codesSlice = tensorType(bhw(host), codeType);
  std::string second, secondSlice;
  if (pq) {
    second = secondSlice = tensorType(
        {s.batch, kKVHeads, pq->first, pq->second, kHeadDim / pq->first},
        "f32");
  } else {
    second = tensorType({s.batch, kKVHeads, s.context}, "f32");
    secondSlice = tensorType({s.batch, kKVHeads, host}, "f32");
  }
  std::string q = tensorType({s.batch, kQueryHeads, kHeadDim}, "f32");
  std::string out = "tensor<" + std::to_string(s.batch) + "x" +
                    std::to_string(kKVHeads) + "x?xi32>";
  std::string b = std::to_string(s.batch), h = std::to_string(kKVHeads),
              n = std::to_string(host), first = std::to_string(sinkOf(s)),
              w = std::to_string(width);
  std::string program =
      "func.func @main(%q: " + q + ", %c: " + codes + ", %s: " + second +
      ") -> " + out + " {\n  %a = tensor.extract_slice %c[0, 0, " + first +
      ", 0] [" + b + ", " + h + ", " + n + ", " + w +
      "] [1, 1, 1, 1] : " + codes + " to " + codesSlice + "\n";
  std::string secondValue = "%s";
  if (!pq) {
    program += "  %b = tensor.extract_slice %s[0, 0, " + first + "] [" + b +
               ", " + h + ", " + n + "] [1, 1, 1] : " + second + " to " +
               secondSlice + "\n";
    secondValue = "%b";
  }
  return program + "  %i = hgc.select " + (pq ? "pq_topk" : "quant_topk") +
         " %q, %a, " + secondValue +
         " {fraction = " + std::to_string(s.budget) +
         " : f64, mass = " + std::to_string(placementOf(s).tau) +
         " : f64} : (" + q + ", " + codesSlice + ", " + secondSlice + ") -> " +
         out + "\n  return %i : " + out + "\n}\n";
}

/// sparf's selection alone, at the split level: channel_topk over the host
/// tier's slice of the bound channel-major keys, with its coverage.
std::string channelSelectionProgram(const Shape &s) {
  int64_t host = std::max<int64_t>(0, s.context - sinkOf(s) - kWindow);
  std::string keys =
      tensorType({s.batch, kKVHeads, kHeadDim, s.context}, s.dtype);
  std::string slice = tensorType({s.batch, kKVHeads, kHeadDim, host}, s.dtype);
  std::string q = tensorType({s.batch, kQueryHeads, kHeadDim}, "f32");
  std::string b = std::to_string(s.batch), h = std::to_string(kKVHeads);
  std::string out = "tensor<" + b + "x" + h + "x?xi32>";
  std::string coverage = "tensor<" + b + "x" + h + "xf32>";
  return "func.func @main(%q: " + q + ", %c: " + keys + ") -> (" + out + ", " +
         coverage + ") {\n  %a = tensor.extract_slice %c[0, 0, 0, " +
         std::to_string(sinkOf(s)) + "] [" + b + ", " + h + ", " +
         std::to_string(kHeadDim) + ", " + std::to_string(host) +
         "] [1, 1, 1, 1] : " + keys + " to " + slice +
         "\n  %i, %m = hgc.select channel_topk %q, %a {fraction = " +
         std::to_string(s.budget) +
         " : f64, channels = " + std::to_string(placementOf(s).channels) +
         " : i64} : (" + q + ", " + slice + ") -> (" + out + ", " + coverage +
         ")\n  return %i, %m : " + out + ", " + coverage + "\n}\n";
}

/// The sparse step's selection alone, at the split level: exact top-k over
/// the host tier's keys, block top-k over its bound summaries, hca's
/// selection over its bound codes, or sparf's over its channel-major keys.
std::string selectionProgram(const Shape &s) {
  if (readsCodes(s) || productQuantizer(s))
    return codesSelectionProgram(s);
  if (readsChannels(s))
    return channelSelectionProgram(s);
  int64_t host = std::max<int64_t>(0, s.context - sinkOf(s) - kWindow);
  bool quest = readsSummaries(s);
  std::string kv =
      tensorType({s.batch, kKVHeads, s.context, kHeadDim}, s.dtype);
  std::string q = tensorType({s.batch, kQueryHeads, kHeadDim}, "f32");
  std::string sum =
      tensorType({s.batch, kKVHeads, summaryBlocks(s), kHeadDim}, s.dtype);
  int64_t first = quest ? sinkOf(s) / s.block : sinkOf(s);
  int64_t count = quest ? (host + s.block - 1) / s.block : host;
  std::string slice = tensorType({s.batch, kKVHeads, count, kHeadDim}, s.dtype);
  std::string out = "tensor<" + std::to_string(s.batch) + "x" +
                    std::to_string(kKVHeads) + "x?xi32>";
  auto take = [&](const std::string &name, const std::string &from) {
    return "  %" + name + " = tensor.extract_slice %" + from + "[0, 0, " +
           std::to_string(first) + ", 0] [" + std::to_string(s.batch) + ", " +
           std::to_string(kKVHeads) + ", " + std::to_string(count) + ", " +
           std::to_string(kHeadDim) + "] [1, 1, 1, 1] : " + (quest ? sum : kv) +
           " to " + slice + "\n";
  };
  std::string budget =
      "{fraction = " + std::to_string(s.budget) + " : f64" +
      (quest ? ", block_size = " + std::to_string(s.block) + " : i64"
             : std::string()) +
      "}";
  if (quest)
    return "func.func @main(%q: " + q + ", %lo: " + sum + ", %hi: " + sum +
           ") -> " + out + " {\n" + take("a", "lo") + take("b", "hi") +
           "  %i = hgc.select block_topk %q, %a, %b " + budget + " : (" + q +
           ", " + slice + ", " + slice + ") -> " + out +
           "\n  return %i : " + out + "\n}\n";
  return "func.func @main(%q: " + q + ", %k: " + kv + ") -> " + out + " {\n" +
         take("a", "k") + "  %i = hgc.select exact_topk %q, %a " + budget +
         " : (" + q + ", " + slice + ") -> " + out + "\n  return %i : " + out +
         "\n}\n";
}

/// The machine's read bandwidth, GB/s, on all cores: a sum over 1 GiB
/// (STREAM-style, the best of several passes).
double measureReadBandwidth() {
  size_t count = size_t(1) << 28; // floats
  std::vector<float> data(count, 1.0f);
  double best = 0;
  for (int pass = 0; pass < 6; ++pass) {
    auto start = std::chrono::steady_clock::now();
    float total = 0;
    // simd: the sum may be reassociated into vector lanes, as a read
    // bandwidth probe needs (a serial float sum is latency-bound).
#pragma omp parallel for simd reduction(+ : total) schedule(static)
    for (size_t i = 0; i < count; ++i)
      total += data[i];
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    if (total != float(count) && total < 0)
      llvm::errs() << ""; // keep the sum live
    best = std::max(best, double(count) * 4 / seconds / 1e9);
  }
  return best;
}

/// The engine path through libhgc over pages the KV runtime owns: pages of
/// 16 and 64 tokens (quest's block is the page: it reads the runtime's page
/// summaries).
std::vector<Shape> runtimeOwnedShapes(int64_t t) {
  std::vector<Shape> list;
  for (int64_t page : {16, 64})
    list.push_back({"dense", 1, t, "f16", 1.0, "full", 0, page, true, true});
  list.push_back({"dense", 1, t, "f32", 1.0, "full", 0, 16, true, true});
  list.push_back({"sparse", 1, t, "f16", 0.05, "hgca", 0, 16, true, true});
  // hca reads the runtime's int8 key codes (kept on append) in place, or its
  // product-quantized codes and codebooks (fitted to the first append);
  // sparf its channel-major keys and per-page value sums.
  list.push_back({"sparse", 1, t, "f16", 0.05, "hca", 0, 16, true, true});
  Shape pq{"sparse", 1, t, "f16", 0.05, "hca", 0, 16, true, true};
  pq.codebook = "pq16x256";
  list.push_back(pq);
  list.push_back({"sparse", 1, t, "f16", 0.05, "sparf", 0, 16, true, true});
  list.push_back({"sparse", 1, t, "f16", 0.05, "quest", 64, 64, true, true});
  return list;
}

std::vector<Shape> shapes(bool quick) {
  std::vector<Shape> list;
  if (quick) {
    for (int64_t t : {16384, 32768})
      list.push_back({"dense", 1, t, "f16", 1.0});
    list.push_back({"dense", 1, 16384, "f32", 1.0});
    list.push_back({"dense", 1, 16384, "bf16", 1.0});
    list.push_back({"dense", 8, 4096, "f16", 1.0});
    list.push_back({"sparse", 1, 32768, "f16", 0.05, "hgca"});
    list.push_back({"sparse", 1, 32768, "f16", 0.05, "hca"});
    Shape pq{"sparse", 1, 32768, "f16", 0.05, "hca"};
    pq.codebook = "pq16x256";
    list.push_back(pq);
    list.push_back({"sparse", 1, 32768, "f16", 0.05, "sparf"});
    for (int64_t block : {16, 64})
      list.push_back({"sparse", 1, 32768, "f16", 0.05, "quest", block});
    for (int64_t paged : {16, 64})
      list.push_back({"dense", 1, 32768, "f16", 1.0, "full", 0, paged});
    list.push_back({"sparse", 1, 32768, "f16", 0.05, "hgca", 0, 16});
    list.push_back({"sparse", 1, 32768, "f16", 0.05, "quest", 64, 16});
    for (Shape s : runtimeOwnedShapes(32768))
      list.push_back(s);
    return list;
  }
  for (std::string dtype : {"f32", "f16", "bf16"}) {
    for (int64_t t : {4096, 16384, 32768, 65536, 131072})
      list.push_back({"dense", 1, t, dtype, 1.0});
    for (int64_t t : {4096, 16384, 32768})
      list.push_back({"dense", 8, t, dtype, 1.0});
  }
  // Sparse: exact top-k, and Quest's blocks of 16 (its default page) and 64.
  for (double budget : {0.02, 0.05, 0.10})
    for (int64_t t : {32768, 131072}) {
      list.push_back({"sparse", 1, t, "f16", budget, "hgca"});
      list.push_back({"sparse", 1, t, "f16", budget, "hca"});
      Shape pq{"sparse", 1, t, "f16", budget, "hca"};
      pq.codebook = "pq16x256";
      list.push_back(pq);
      list.push_back({"sparse", 1, t, "f16", budget, "sparf"});
      list.push_back({"sparse", 1, t, "f16", budget, "quest", 16});
    }
  for (int64_t t : {32768, 131072})
    list.push_back({"sparse", 1, t, "f16", 0.05, "quest", 64});
  // The engine path: paged KV in blocks of 16 and 64 tokens, in place, in
  // vLLM's token-major layout (NHD) and heads-major (HND).
  for (int64_t t : {32768, 131072})
    for (bool hnd : {false, true}) {
      for (int64_t paged : {16, 64})
        list.push_back({"dense", 1, t, "f16", 1.0, "full", 0, paged, hnd});
      list.push_back({"dense", 1, t, "f32", 1.0, "full", 0, 16, hnd});
      list.push_back({"sparse", 1, t, "f16", 0.05, "hgca", 0, 16, hnd});
      list.push_back({"sparse", 1, t, "f16", 0.05, "quest", 64, 16, hnd});
    }
  for (int64_t t : {32768, 131072})
    for (Shape s : runtimeOwnedShapes(t))
      list.push_back(s);
  return list;
}

struct HgcRunner {
  MLIRContext context;
  HgcRunner() : context(makeRegistry()) { context.loadAllAvailableDialects(); }
  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    hgc::registerCompilerDialects(registry);
    return registry;
  }

  /// Compiles `module` (placed and split per `s` when `split`) for the host.
  std::unique_ptr<hgc::HostProgram> compile(OwningOpRef<ModuleOp> module,
                                            const Shape &s, bool split) {
    if (!module)
      return nullptr;
    PassManager pm(&context);
    if (split)
      hgc::buildHybridPipeline(pm, placementOf(s));
    if (failed(pm.run(*module)))
      return nullptr;
    auto compiled = hgc::HostProgram::compile(*module, "main");
    if (!compiled) {
      llvm::errs() << llvm::toString(compiled.takeError()) << "\n";
      return nullptr;
    }
    return std::move(*compiled);
  }

  /// Median milliseconds of one decode step (and, sparse, of its selection
  /// alone), or nullopt (error printed).
  std::optional<std::pair<double, std::optional<double>>> time(const Shape &s,
                                                               int repeats) {
    if (s.runtimeOwned) {
      RuntimeOwnedRow row{kQueryHeads, kKVHeads, kHeadDim, s.batch,
                          s.context,   s.dtype,  s.policy};
      row.block = s.block;
      row.sink = s.mode == "sparse" ? sinkOf(s) : 0;
      row.window = kWindow;
      row.pageTokens = s.pagedBlock;
      row.budget = s.budget;
      row.codebook = s.codebook;
      std::optional<double> ms = timeRuntimeOwned(row, repeats);
      if (!ms)
        return std::nullopt;
      return std::make_pair(*ms, std::optional<double>());
    }
    std::unique_ptr<hgc::HostProgram> step =
        compile(decodeProgram(&context, s), s, true);
    if (!step)
      return std::nullopt;
    std::mt19937 rng(7);
    hgc::NpyArray q =
        getRandomArray(rng, {s.batch, kQueryHeads, kHeadDim}, "f32");
    hgc::NpyArray k =
        getRandomArray(rng, {s.batch, kKVHeads, s.context, kHeadDim}, s.dtype);
    hgc::NpyArray v =
        getRandomArray(rng, {s.batch, kKVHeads, s.context, kHeadDim}, s.dtype);
    std::vector<hgc::NpyArray> inputs = {q, k, v}, selectInputs = {q, k};
    if (s.pagedBlock) {
      // The same values as blocks: [batch x blocks, block, kv_heads, dim]
      // (random, like the bound rows), in a shuffled order.
      int64_t perSequence = s.context / s.pagedBlock;
      int64_t blocks = s.batch * perSequence;
      SmallVector<int64_t> blockShape = {blocks, s.pagedBlock, kKVHeads,
                                         kHeadDim};
      if (s.headsMajor)
        std::swap(blockShape[1], blockShape[2]);
      inputs[1] = getRandomArray(rng, blockShape, s.dtype);
      inputs[2] = getRandomArray(rng, blockShape, s.dtype);
      std::vector<int32_t> ids(blocks);
      std::iota(ids.begin(), ids.end(), 0);
      std::shuffle(ids.begin(), ids.end(), rng);
      hgc::NpyArray table, lengths;
      table.descr = lengths.descr = "<i4";
      table.shape = {s.batch, perSequence};
      lengths.shape = {s.batch};
      table.data.resize(ids.size() * 4);
      std::memcpy(table.data.data(), ids.data(), table.data.size());
      std::vector<int32_t> counts(s.batch, int32_t(s.context));
      lengths.data.resize(counts.size() * 4);
      std::memcpy(lengths.data.data(), counts.data(), lengths.data.size());
      inputs.push_back(std::move(table));
      inputs.push_back(std::move(lengths));
    }
    if (readsSummaries(s)) {
      // Paged rows bind summaries of keys drawn alike: what selection reads
      // (their values do not change the time).
      auto [lo, hi] = getBlockSummaries(k, s.dtype, s.block);
      inputs.push_back(lo);
      inputs.push_back(hi);
      selectInputs = {q, lo, hi};
    }
    if (readsCodes(s)) {
      // The engine's codes of the keys, kept on append.
      auto [codes, scales] = getKeyCodes(k, s.dtype);
      inputs.push_back(codes);
      inputs.push_back(scales);
      selectInputs = {q, codes, scales};
    }
    if (auto pq = productQuantizer(s)) {
      // Codebooks fitted to a 4096-token prefill, every key encoded.
      auto [codes, books] =
          getProductQuantized(k, s.dtype, pq->first, pq->second, 4096);
      inputs.push_back(codes);
      inputs.push_back(books);
      selectInputs = {q, codes, books};
    }
    if (readsChannels(s)) {
      // The engine's channel-major copy of the keys and per-block sums of
      // the values, kept on append.
      hgc::NpyArray channels = getChannelMajor(k, s.dtype);
      inputs.push_back(channels);
      inputs.push_back(getValueSums(v, s.dtype, kValueBlock));
      selectInputs = {q, channels};
    }
    std::optional<double> stepMs = median(*step, inputs, repeats);
    // The selection alone is timed over bound buffers: paged rows have no
    // share of their own.
    if (!stepMs)
      return std::nullopt;
    if (s.mode == "dense" || s.pagedBlock)
      return std::make_pair(*stepMs, std::optional<double>());
    std::unique_ptr<hgc::HostProgram> select = compile(
        parseSourceString<ModuleOp>(selectionProgram(s), &context), s, false);
    if (!select)
      return std::nullopt;
    std::optional<double> selectMs = median(*select, selectInputs, repeats);
    if (!selectMs)
      return std::nullopt;
    return std::make_pair(*stepMs, std::optional<double>(*selectMs));
  }

  std::optional<double> median(hgc::HostProgram &compiled,
                               std::vector<hgc::NpyArray> &inputs,
                               int repeats) {
    std::vector<hgc::NpyArray> outputs;
    return medianMs(
        [&] {
          if (llvm::Error error = compiled.run(inputs, outputs)) {
            llvm::errs() << llvm::toString(std::move(error)) << "\n";
            return false;
          }
          return true;
        },
        repeats);
  }
};

llvm::json::Object shapeJson(const Shape &s) {
  return llvm::json::Object{
      {"mode", s.mode},
      {"policy", s.policy},
      {"codebook", s.policy == "hca" ? llvm::json::Value(s.codebook)
                                     : llvm::json::Value(nullptr)},
      {"channels", s.policy == "sparf"
                       ? llvm::json::Value(placementOf(s).channels)
                       : llvm::json::Value(nullptr)},
      {"block",
       s.block ? llvm::json::Value(s.block) : llvm::json::Value(nullptr)},
      {"paged_block", s.pagedBlock ? llvm::json::Value(s.pagedBlock)
                                   : llvm::json::Value(nullptr)},
      {"paged_layout", s.pagedBlock
                           ? llvm::json::Value(s.headsMajor ? "hnd" : "nhd")
                           : llvm::json::Value(nullptr)},
      {"kv_owner", s.runtimeOwned ? "runtime"
                   : s.pagedBlock ? "engine"
                                  : "bound"},
      {"batch", s.batch},
      {"context", s.context},
      {"kv_dtype", s.dtype},
      {"budget", s.budget},
      {"q_heads", kQueryHeads},
      {"kv_heads", kKVHeads},
      {"head_dim", kHeadDim}};
}

/// `quest/16` for quest's block size, the policy name otherwise; `@p16`
/// after it for engine-owned paged KV in blocks of 16, `@r16` for pages of
/// 16 tokens the runtime owns.
std::string policyText(const Shape &s) {
  std::string text =
      s.block ? s.policy + "/" + std::to_string(s.block) : s.policy;
  if (s.codebook != "int8")
    text += "/" + s.codebook;
  if (!s.pagedBlock)
    return text;
  if (s.runtimeOwned)
    return text + "@r" + std::to_string(s.pagedBlock);
  return text + "@p" + std::to_string(s.pagedBlock) +
         (s.headsMajor ? "hnd" : "");
}

std::string key(const Shape &s) {
  return std::to_string(s.batch) + "/" + std::to_string(s.context) + "/" +
         s.dtype;
}

/// Runs bench/attention_peers.py on the dense shapes; its rows by system.
std::vector<Row> runPeers(const std::vector<Shape> &list, int repeats) {
  llvm::SmallString<128> in, out;
  llvm::sys::fs::createTemporaryFile("hgc-bench-shapes", "json", in);
  llvm::sys::fs::createTemporaryFile("hgc-bench-peers", "json", out);
  llvm::json::Array shapesJson;
  for (const Shape &s : list)
    if (s.mode == "dense" && !s.pagedBlock)
      shapesJson.push_back(shapeJson(s));
  {
    std::error_code error;
    llvm::raw_fd_ostream os(in, error);
    os << llvm::json::Value(std::move(shapesJson));
  }
  std::string python = std::string(HGC_SOURCE_DIR) + "/.venv/bin/python";
  if (!llvm::sys::fs::exists(python))
    python = "/usr/bin/python3";
  std::string script =
      std::string(HGC_SOURCE_DIR) + "/bench/attention_peers.py";
  std::string repeatText = std::to_string(repeats);
  llvm::SmallVector<llvm::StringRef> args = {
      python, script, "--shapes", in, "--out", out, "--repeats", repeatText};
  int rc = llvm::sys::ExecuteAndWait(python, args);
  std::vector<Row> rows;
  auto buffer = llvm::MemoryBuffer::getFile(out);
  if (rc != 0 || !buffer) {
    llvm::errs() << "hgc-bench: the peers script failed (rc " << rc << ")\n";
    return rows;
  }
  llvm::Expected<llvm::json::Value> parsed =
      llvm::json::parse((*buffer)->getBuffer());
  if (!parsed || !parsed->getAsArray()) {
    llvm::errs() << "hgc-bench: unreadable peers output\n";
    if (!parsed)
      llvm::consumeError(parsed.takeError());
    return rows;
  }
  for (const llvm::json::Value &value : *parsed->getAsArray()) {
    const llvm::json::Object *object = value.getAsObject();
    if (!object)
      continue;
    Row row;
    row.system = object->getString("system").value_or("?").str();
    row.shape.mode = "dense";
    row.shape.batch = object->getInteger("batch").value_or(0);
    row.shape.context = object->getInteger("context").value_or(0);
    row.shape.dtype = object->getString("kv_dtype").value_or("?").str();
    row.shape.budget = 1.0;
    row.note = object->getString("note").value_or("").str();
    std::optional<double> ms = object->getNumber("time_ms");
    row.ran = ms.has_value(); // else the peer cannot run this shape
    row.timeMs = ms.value_or(0);
    row.bytes = bytesTouched(row.shape);
    rows.push_back(row);
  }
  llvm::sys::fs::remove(in);
  llvm::sys::fs::remove(out);
  return rows;
}
/// The rows whose `policy/batch/context/kv` contains any comma-separated
/// part of `only`.
std::vector<Shape> selectShapes(bool quick, llvm::StringRef only) {
  std::vector<Shape> list;
  SmallVector<llvm::StringRef> parts;
  only.split(parts, ',');
  for (const Shape &s : shapes(quick))
    if (llvm::any_of(parts, [&](llvm::StringRef part) {
          return llvm::StringRef(policyText(s) + "/" + key(s)).contains(part);
        }))
      list.push_back(s);
  return list;
}

/// Times hgc on every shape of `list`, printing each row as it comes; false
/// when one fails (its error printed).
bool timeHgcRows(const std::vector<Shape> &list, int repeats,
                 std::vector<Row> &rows) {
  HgcRunner hgc;
  for (const Shape &s : list) {
    auto timed = hgc.time(s, repeats);
    if (!timed) {
      llvm::errs() << "hgc-bench: failed to run hgc on " << key(s) << "\n";
      return false;
    }
    double ms = timed->first;
    Row row;
    row.system = "hgc";
    row.shape = s;
    row.timeMs = ms;
    row.bytes = bytesTouched(s);
    if (timed->second)
      row.selectionShare = *timed->second / ms;
    rows.push_back(row);
    llvm::outs() << llvm::format("hgc %-6s %-5s batch %-2lld context %-7lld "
                                 "%-4s budget %.2f: %9.3f ms %7.1f GB/s\n",
                                 s.mode.c_str(), policyText(s).c_str(),
                                 (long long)s.batch, (long long)s.context,
                                 s.dtype.c_str(), s.budget, ms,
                                 row.bytes / ms / 1e6);
    llvm::outs().flush();
  }
  return true;
}

/// Ratios to the peers' dense times on the same shape; the peers have no
/// sparse decode, so sparse rows get no ratio.
void addPeerRatios(std::vector<Row> &rows) {
  auto timesOf = [&](llvm::StringRef system) {
    std::map<std::string, double> times;
    for (const Row &row : rows)
      if (row.system == system && row.ran)
        times[key(row.shape)] = row.timeMs;
    return times;
  };
  std::map<std::string, double> ort = timesOf("onnxruntime"),
                                iree = timesOf("iree");
  std::map<std::string, const Row *> fastest;
  for (const Row &row : rows) {
    if (row.system == "hgc" || !row.ran)
      continue;
    const Row *&best = fastest[key(row.shape)];
    if (!best || row.timeMs < best->timeMs)
      best = &row;
  }
  for (Row &row : rows) {
    if (row.shape.mode != "dense" || row.shape.pagedBlock || !row.ran)
      continue;
    if (auto best = fastest.find(key(row.shape));
        row.system == "hgc" && best != fastest.end()) {
      row.speedupVsFastest = best->second->timeMs / row.timeMs;
      row.fastestPeer = best->second->system;
    }
    auto found = ort.find(key(row.shape));
    if (found != ort.end())
      row.speedupVsOrt = found->second / row.timeMs;
    found = iree.find(key(row.shape));
    if (found != iree.end())
      row.speedupVsIree = found->second / row.timeMs;
  }
}

llvm::json::Value optionalJson(std::optional<double> value) {
  return value ? llvm::json::Value(*value) : llvm::json::Value(nullptr);
}

/// Prints the table of `rows`; returns them as JSON objects.
llvm::json::Array printRows(const std::vector<Row> &rows, double bandwidth) {
  llvm::outs()
      << "\nsystem          mode   policy   batch context kv    budget "
         "  time_ms     GB/s  of_bw  vs_ort vs_iree vs_best  select\n";
  llvm::json::Array json;
  for (const Row &row : rows) {
    if (!row.ran) {
      llvm::outs() << llvm::format(
          "%-15s %-6s %-8s %5lld %7lld %-5s   not run: %s\n",
          row.system.c_str(), row.shape.mode.c_str(),
          policyText(row.shape).c_str(), (long long)row.shape.batch,
          (long long)row.shape.context, row.shape.dtype.c_str(),
          row.note.c_str());
      llvm::json::Object object = shapeJson(row.shape);
      object["system"] = row.system;
      object["time_ms"] = nullptr;
      object["note"] = row.note;
      json.push_back(std::move(object));
      continue;
    }
    double gbps = row.bytes / row.timeMs / 1e6;
    llvm::outs() << llvm::format(
        "%-15s %-6s %-8s %5lld %7lld %-5s %6.2f %9.3f %8.1f %5.0f%% ",
        row.system.c_str(), row.shape.mode.c_str(),
        policyText(row.shape).c_str(), (long long)row.shape.batch,
        (long long)row.shape.context, row.shape.dtype.c_str(), row.shape.budget,
        row.timeMs, gbps, 100 * gbps / bandwidth);
    for (std::optional<double> ratio :
         {row.speedupVsOrt, row.speedupVsIree, row.speedupVsFastest}) {
      if (ratio)
        llvm::outs() << llvm::format("%7.2fx", *ratio);
      else
        llvm::outs() << "       -";
    }
    if (row.selectionShare)
      llvm::outs() << llvm::format("  %5.1f%%\n", 100 * *row.selectionShare);
    else
      llvm::outs() << "       -\n";
    llvm::json::Object object = shapeJson(row.shape);
    object["system"] = row.system;
    object["time_ms"] = row.timeMs;
    object["gbps"] = gbps;
    object["fraction_of_bandwidth"] = gbps / bandwidth;
    object["bandwidth_gbps"] = bandwidth;
    object["selection_share"] = optionalJson(row.selectionShare);
    object["speedup_vs_iree"] = optionalJson(row.speedupVsIree);
    object["speedup_vs_onnxruntime"] = optionalJson(row.speedupVsOrt);
    object["speedup_vs_fastest_peer"] = optionalJson(row.speedupVsFastest);
    if (!row.fastestPeer.empty())
      object["fastest_peer"] = row.fastestPeer;
    if (!row.note.empty())
      object["note"] = row.note;
    if (row.system == "hgc") {
      llvm::json::Array tiers;
      for (const TierRead &read : tierReads(row.shape))
        tiers.push_back(
            llvm::json::Object{{"tier", hgc::stringifyTier(read.tier)},
                               {"tokens", read.tokens},
                               {"read_bytes", read.bytes}});
      object["tiers"] = std::move(tiers);
    }
    json.push_back(std::move(object));
  }
  return json;
}

/// Writes --json and, from it, --plot; false on failure (printed).
bool writeOutputs(const AttentionBenchOptions &options,
                  llvm::json::Array json) {
  if (!options.json.empty()) {
    std::error_code error;
    llvm::raw_fd_ostream os(options.json, error);
    if (error) {
      llvm::errs() << "hgc-bench: " << options.json << ": " << error.message()
                   << "\n";
      return false;
    }
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(json))) << "\n";
  }
  if (options.plot.empty())
    return true;
  if (options.json.empty()) {
    llvm::errs() << "hgc-bench: --plot needs --json (the plot reads it)\n";
    return false;
  }
  std::string python = std::string(HGC_SOURCE_DIR) + "/.venv/bin/python";
  std::string script = std::string(HGC_SOURCE_DIR) + "/bench/attention_plot.py";
  llvm::SmallVector<llvm::StringRef> args = {python, script, options.json,
                                             options.plot};
  if (llvm::sys::ExecuteAndWait(python, args) != 0) {
    llvm::errs() << "hgc-bench: plotting failed\n";
    return false;
  }
  return true;
}
} // namespace

int runAttentionBench(const AttentionBenchOptions &options) {
  double bandwidth = measureReadBandwidth();
  llvm::outs() << llvm::format("read bandwidth (all cores, 1 GiB sum): %.1f "
                               "GB/s\n",
                               bandwidth);
  llvm::outs().flush();
  std::vector<Shape> list = selectShapes(options.quick, options.only);
  if (list.empty()) {
    llvm::errs() << "hgc-bench: no row matches --only '" << options.only
                 << "'\n";
    return 1;
  }
  int repeats = options.repeats > 0 ? options.repeats : 20;
  std::vector<Row> rows;
  if (!timeHgcRows(list, repeats, rows))
    return 1;
  if (options.peers) {
    std::vector<Row> peers = runPeers(list, std::min(repeats, 10));
    rows.insert(rows.end(), peers.begin(), peers.end());
  }
  addPeerRatios(rows);
  return writeOutputs(options, printRows(rows, bandwidth)) ? 0 : 1;
}
