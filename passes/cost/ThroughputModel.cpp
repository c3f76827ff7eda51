//===- ThroughputModel.cpp - predicted decode throughput ------------------===//

#include "passes/cost/ThroughputModel.h"

#include "passes/cost/SplitScheduler.h"
#include "passes/policies/PlacementPolicy.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace llvm;
using namespace mlir;
using namespace mlir::hgc;

namespace {
/// GPU memory left for weights and KV: the rest holds activations and the
/// runtime's workspace.
constexpr double kUsableGpuFraction = 0.9;
/// Tokens per page of the KV runtime the JIT's caches use (sparf's value
/// sums are per page).
constexpr int64_t kPageTokens = 64;

/// Both tiers' time on one host call: the roofline of its bytes over the
/// host's bandwidth and its core-nanoseconds over the host's cores, plus
/// the measured fixed cost of a call.
double hostCallSeconds(const ThroughputQuery &query, double bytes,
                       double coreNs) {
  double memory = bytes / query.hardware.cpu.bytesPerSecond();
  double compute = coreNs * 1e-9 / double(query.hardware.cpuCores);
  return query.rates.stepOverheadUs * 1e-6 + std::max(memory, compute);
}

/// The measured per-(token, head) costs scale with a KV row's bytes.
double rowScale(const ThroughputQuery &query) {
  return double(query.model.headDim * query.model.getElementBytes()) /
         query.rates.fittedRowBytes;
}

double gpuRate(const ThroughputQuery &query) {
  return query.hardware.gpu->bytesPerSecond();
}

/// Queries to the host and outputs with their LSE back, one layer.
double linkLayerBytes(const ThroughputQuery &query, bool withLse) {
  return double(query.batch * query.model.qHeads) *
         (2.0 * double(query.model.headDim) + (withLse ? 1.0 : 0.0)) * 4.0;
}

/// A layer's weights on the GPU, or on the host without one.
double weightLayerSeconds(const ThroughputQuery &query) {
  double bytes = query.model.getWeightBytes() / double(query.model.layers);
  if (!query.hardware.gpu)
    return bytes / query.hardware.cpu.bytesPerSecond();
  return bytes / gpuRate(query) + query.hardware.gpuLayerOverheadUs * 1e-6;
}

/// Bytes per (token, KV head) of the key metadata the JIT copies into one
/// buffer for a batch of more than one sequence (jit/RuntimePages.cpp):
/// per-page key summaries (quest over pages of its block), int8 codes and
/// scales, product-quantized codes, channel-major keys and value sums.
double batchCopyBytesPerToken(const PlacementOptions &options,
                              const ModelShape &model) {
  const PlacementPolicy &policy = getPlacementPolicy(options);
  double row = double(model.headDim * model.getElementBytes());
  double bytes = 0;
  if (policy.readsKeySummaries() && options.block == kPageTokens)
    bytes += 2.0 * row / double(kPageTokens);
  if (policy.readsKeyCodes(options))
    bytes += double(model.headDim) + 4.0;
  auto [subspaces, centroids] = policy.getProductQuantizer(options);
  bytes += double(subspaces) * (centroids > 256 ? 2.0 : 1.0);
  if (policy.readsChannelKeys())
    bytes += row + double(model.headDim) * 4.0 / double(kPageTokens);
  return bytes;
}

void notFitting(StepPrediction &step, const Twine &why) {
  if (step.fits) {
    step.fits = false;
    step.whyNot = why.str();
  }
}

/// `value` as %g prints it: 2000, 0.8, 83.2.
std::string number(double value) {
  return llvm::formatv("{0}", llvm::format("%g", value)).str();
}

std::string gigabytes(double bytes) {
  return formatv("{0:f1} GB", bytes / 1e9).str();
}

/// GPU and host capacity of what `step` keeps resident (weights on the GPU
/// when there is one, else on the host).
void checkCapacity(const ThroughputQuery &query, StepPrediction &step,
                   double gpuBuffers = 0) {
  double weights = query.model.getWeightBytes();
  const HardwareProfile &hw = query.hardware;
  if (hw.gpu) {
    double usable = hw.gpu->capacityGB * 1e9 * kUsableGpuFraction;
    double needed = weights + step.deviceKVBytes + gpuBuffers;
    if (needed > usable)
      notFitting(step, "needs " + gigabytes(needed) + " of GPU memory, " +
                           gigabytes(usable) + " usable");
  } else {
    step.hostKVBytes += step.deviceKVBytes; // the emulated device tier
  }
  double host = step.hostKVBytes + (hw.gpu ? 0.0 : weights);
  if (host > hw.cpu.capacityGB * 1e9)
    notFitting(step, "needs " + gigabytes(host) + " of host memory, " +
                         gigabytes(hw.cpu.capacityGB * 1e9) + " there");
}

void finish(const ThroughputQuery &query, StepPrediction &step,
            double layerSeconds) {
  step.stepSeconds = layerSeconds * double(query.model.layers);
  step.tokensPerSecond = double(query.batch) / step.stepSeconds;
}
} // namespace

StringRef mlir::hgc::stringifyStrategy(Strategy strategy) {
  switch (strategy) {
  case Strategy::GpuOnly:
    return "gpu-only";
  case Strategy::OffloadOnly:
    return "offload-only";
  case Strategy::HeadStream:
    return "head-stream";
  case Strategy::CpuAttention:
    return "cpu-attention";
  case Strategy::Hybrid:
    return "hybrid";
  case Strategy::BalancedHybrid:
    return "hybrid-balanced";
  }
  llvm_unreachable("every strategy is named");
}

StepPrediction mlir::hgc::predictBaseline(const ThroughputQuery &query,
                                          Strategy strategy) {
  assert(strategy != Strategy::Hybrid && strategy != Strategy::BalancedHybrid &&
         "predictHybrid models the hybrid");
  const ModelShape &model = query.model;
  const HardwareProfile &hw = query.hardware;
  StepPrediction step;
  step.strategy = strategy;
  double layers = double(model.layers);
  double kvLayer =
      double(query.batch) * double(query.context) * model.getKVBytesPerToken();
  double weightSeconds = weightLayerSeconds(query);
  step.weightSeconds = weightSeconds * layers;
  if (strategy != Strategy::CpuAttention && !hw.gpu) {
    notFitting(step, "the profile has no GPU");
    return step;
  }
  switch (strategy) {
  case Strategy::GpuOnly: {
    step.deviceTokens = query.context;
    step.deviceKVBytes = kvLayer * layers;
    step.deviceReadBytes = kvLayer * layers;
    double device = kvLayer / gpuRate(query);
    step.deviceSeconds = device * layers;
    checkCapacity(query, step);
    finish(query, step, weightSeconds + device);
    return step;
  }
  case Strategy::OffloadOnly: {
    // Two layers' KV buffers on the GPU: one computed on, one arriving.
    step.hostKVBytes = kvLayer * layers;
    step.deviceReadBytes = kvLayer * layers;
    step.linkBytes = kvLayer * layers;
    double device = kvLayer / gpuRate(query);
    double link = kvLayer / hw.link.bytesPerSecond() + hw.linkLatencyUs * 1e-6;
    step.deviceSeconds = device * layers;
    step.linkSeconds = link * layers;
    checkCapacity(query, step, 2.0 * kvLayer);
    finish(query, step, std::max(weightSeconds + device, link));
    return step;
  }
  case Strategy::HeadStream: {
    // Every head resident when all fit; else as many as fit beside the two
    // buffers of streamed heads; the same heads in every layer.
    double headLayer = kvLayer / double(model.kvHeads);
    double room =
        hw.gpu->capacityGB * 1e9 * kUsableGpuFraction - model.getWeightBytes();
    int64_t resident = model.kvHeads;
    if (room < headLayer * layers * double(model.kvHeads))
      resident = room <= 2.0 * headLayer
                     ? 0
                     : int64_t((room - 2.0 * headLayer) / (headLayer * layers));
    int64_t streamed = model.kvHeads - resident;
    step.residentHeads = resident;
    step.policy = "full"; // exact: every head attends every token
    step.budget = formatv("{0}/{1}", resident, model.kvHeads).str();
    step.deviceTokens = resident == model.kvHeads ? query.context : 0;
    step.deviceKVBytes = headLayer * double(resident) * layers;
    step.hostKVBytes = headLayer * double(streamed) * layers;
    step.deviceReadBytes = kvLayer * layers;
    step.linkBytes = headLayer * double(streamed) * layers;
    double device = kvLayer / gpuRate(query);
    double link = headLayer * double(streamed) / hw.link.bytesPerSecond() +
                  double(streamed) * hw.linkLatencyUs * 1e-6;
    step.deviceSeconds = device * layers;
    step.linkSeconds = link * layers;
    checkCapacity(query, step, streamed ? 2.0 * headLayer : 0.0);
    finish(query, step, std::max(weightSeconds + device, link));
    return step;
  }
  case Strategy::CpuAttention: {
    step.hostKVBytes = kvLayer * layers;
    step.hostReadBytes = kvLayer * layers;
    double coreNs = query.rates.denseCoreNs * rowScale(query) *
                    double(query.batch * query.context * model.kvHeads);
    double host = hostCallSeconds(query, kvLayer, coreNs);
    double link = 0;
    if (hw.gpu) {
      step.linkBytes = linkLayerBytes(query, /*withLse=*/false) * layers;
      link = linkLayerBytes(query, false) / hw.link.bytesPerSecond() +
             2.0 * hw.linkLatencyUs * 1e-6;
    }
    step.hostSeconds = host * layers;
    step.linkSeconds = link * layers;
    checkCapacity(query, step);
    finish(query, step, weightSeconds + link + host);
    return step;
  }
  case Strategy::Hybrid:
  case Strategy::BalancedHybrid:
    break;
  }
  llvm_unreachable("the hybrid is predictHybrid's");
}

FailureOr<StepPrediction>
mlir::hgc::predictHybrid(MLIRContext *context, const ThroughputQuery &query,
                         const PlacementOptions &options,
                         function_ref<InFlightDiagnostic()> emitError) {
  FailureOr<PlacementAttr> placement =
      buildPlacement(context, options, emitError);
  if (failed(placement))
    return failure();
  const PlacementPolicy &policy = getPlacementPolicy(options);
  if (!policy.splits())
    return emitError() << "policy '" << options.policy
                       << "' keeps every token on the device: its row is "
                          "gpu-only";
  auto rate = query.rates.scanCoreNs.find(options.policy);
  if (rate == query.rates.scanCoreNs.end())
    return emitError() << "no measured host rate for policy '" << options.policy
                       << "' in " << query.rates.source;
  auto attendRate = query.rates.attendCoreNs.find(options.policy);
  double attendCoreNs = attendRate == query.rates.attendCoreNs.end()
                            ? query.rates.denseCoreNs
                            : attendRate->second;
  const ModelShape &model = query.model;
  const HardwareProfile &hw = query.hardware;
  KeptWithKV kept = getKeptByKVRuntime(options, kPageTokens);
  int64_t elementBytes = model.getElementBytes();
  double rowBytes = 2.0 * double(model.headDim * elementBytes);
  double scale = rowScale(query);
  // One sequence, one layer, all KV heads.
  double deviceTokens = 0, hostTokens = 0, deviceRead = 0, hostRead = 0;
  double hostCoreNs = 0;
  for (int64_t head = 0; head < model.kvHeads; ++head) {
    PlacementAttr forHead = placement->getForHead(head);
    SmallVector<int64_t> resident = forHead.getResidentTokens(query.context);
    for (auto [tier, tokens] : llvm::zip(forHead.getTiers(), resident)) {
      double bytes =
          tier.getStepReadBytes(tokens, model.headDim, elementBytes, kept);
      double attended = double(tier.getAttendedTokens(tokens));
      if (tier.getTier() == Tier::Device) {
        deviceTokens += double(tokens);
        deviceRead += bytes;
        continue;
      }
      hostTokens += double(tokens);
      hostRead += bytes;
      hostCoreNs +=
          (attendCoreNs * attended + rate->second * double(tokens)) * scale;
    }
  }
  double batch = double(query.batch), layers = double(model.layers);
  StepPrediction step;
  step.strategy = Strategy::Hybrid;
  step.policy = options.policy;
  step.budget = options.budget;
  step.deviceTokens = int64_t(deviceTokens) / model.kvHeads;
  step.deviceKVBytes = deviceTokens * rowBytes * batch * layers;
  step.hostKVBytes = hostTokens * rowBytes * batch * layers;
  step.deviceReadBytes = deviceRead * batch * layers;
  step.hostReadBytes = hostRead * batch * layers;
  double weightSeconds = weightLayerSeconds(query);
  step.weightSeconds = weightSeconds * layers;
  // A batch's copy of the key metadata: zeroed, then read and written.
  double copyBytes = query.batch > 1
                         ? 3.0 * batch * double(model.kvHeads) *
                               double(query.context) *
                               batchCopyBytesPerToken(options, model)
                         : 0.0;
  double copySeconds = copyBytes / hw.cpu.bytesPerSecond();
  double layerSeconds;
  if (hw.gpu) {
    double device = deviceRead * batch / gpuRate(query);
    double host = copySeconds +
                  hostCallSeconds(query, hostRead * batch, hostCoreNs * batch);
    double link =
        linkLayerBytes(query, /*withLse=*/true) / hw.link.bytesPerSecond() +
        2.0 * hw.linkLatencyUs * 1e-6;
    step.deviceSeconds = device * layers;
    step.hostSeconds = host * layers;
    step.linkSeconds = link * layers;
    step.linkBytes = linkLayerBytes(query, true) * layers;
    layerSeconds = weightSeconds + std::max(device, link + host);
  } else {
    // The device tier emulated in host memory: one host call, as the JIT
    // runs both tiers here.
    double deviceCoreNs = query.rates.denseCoreNs * deviceTokens * scale;
    double host =
        copySeconds + hostCallSeconds(query, (deviceRead + hostRead) * batch,
                                      (deviceCoreNs + hostCoreNs) * batch);
    step.hostSeconds = host * layers;
    layerSeconds = weightSeconds + host;
  }
  checkCapacity(query, step);
  finish(query, step, layerSeconds);
  return step;
}

FailureOr<StepPrediction>
mlir::hgc::predictBalancedHybrid(MLIRContext *context,
                                 const ThroughputQuery &query,
                                 const PlacementOptions &placement,
                                 function_ref<InFlightDiagnostic()> emitError) {
  FailureOr<StepPrediction> step =
      predictHybrid(context, query, placement, emitError);
  if (failed(step) || !query.hardware.gpu)
    return step;
  // The device's room per sequence: usable GPU memory past the weights over
  // the batch's KV per token of every layer.
  const ModelShape &model = query.model;
  double room =
      (query.hardware.gpu->capacityGB * 1e9 * kUsableGpuFraction -
       model.getWeightBytes()) /
      (double(query.batch * model.layers) * model.getKVBytesPerToken());
  SchedulerOptions options;
  options.context = query.context - placement.sink; // what the split divides
  options.window = options.minWindow = placement.window;
  options.maxWindow =
      std::min<int64_t>(int64_t(room) - placement.sink, options.context - 1);
  if (options.maxWindow < options.minWindow ||
      !SplitScheduler::checkOptions(options).empty())
    return step; // no room to grow the window
  SplitScheduler scheduler(options);
  auto at = [&](int64_t window) {
    PlacementOptions moved = placement;
    moved.window = window;
    return predictHybrid(context, query, moved, emitError);
  };
  double layers = double(model.layers);
  for (int observed = 0; observed < 30; ++observed) {
    step = at(scheduler.getSplit().window);
    if (failed(step))
      return failure();
    scheduler.observe({step->deviceSeconds / layers, step->hostSeconds / layers,
                       step->linkSeconds / layers});
  }
  step = at(scheduler.getSplit().window);
  if (succeeded(step))
    step->strategy = Strategy::BalancedHybrid;
  return step;
}

std::vector<std::string>
mlir::hgc::getModelAssumptions(const ThroughputQuery &query) {
  const HardwareProfile &hw = query.hardware;
  std::vector<std::string> lines;
  auto add = [&](const Twine &line) { lines.push_back(line.str()); };
  add("a step decodes one token for each sequence of the batch through "
      "every layer; prefill, sampling and compute beyond reading the weights "
      "and the KV are not modeled (decode at small batch is memory-bound)");
  add("weights: parameters x " + Twine(query.model.getElementBytes()) +
      " bytes, read once per step for the whole batch");
  if (hw.gpu) {
    add("GPU: " + number(hw.gpu->bandwidthGBs) + " GB/s x " +
        number(hw.gpu->efficiency) + " for weights and KV, " +
        number(hw.gpuLayerOverheadUs) +
        " us per layer (a captured graph's launches); " +
        formatv("{0:P0}", kUsableGpuFraction) +
        " of its memory for weights and KV");
    add("link (" + hw.linkName + "): " + number(hw.link.bandwidthGBs) +
        " GB/s x " + number(hw.link.efficiency) + " per direction, " +
        number(hw.linkLatencyUs) + " us per transfer");
    add("offload-only: all KV on the host, each layer's copied to the GPU "
        "every step into one of two buffers while the GPU computes the layer "
        "before (FlexGen's overlap; favourable to it)");
    add("head-stream: HeadInfer's head-wise offload: the most KV heads "
        "(the same in every layer) GPU memory holds after the weights and two "
        "head buffers stay there whole; each other head's KV is copied to "
        "the GPU every step, a transfer per head, the next head's copy "
        "overlapping this one's compute and the next layer's first copy this "
        "layer's last (hgc_rt_head_stream's double buffering); its budget "
        "column is resident KV heads / KV heads");
    add("cpu-attention: all KV on the host, attended by hgc's dense host "
        "kernel; queries and outputs cross the link");
    add("hybrid: sinks and window dense on the GPU while the host attends "
        "the rest under the policy; a layer takes the longer of the two "
        "(queries, outputs and LSE over the link on the host's side); the "
        "LSE merge is free; no overlap between layers (a layer's attention "
        "waits for its query)");
  } else {
    add("no GPU: the device tier is host memory and every tier runs in one "
        "host call per layer, as the JIT runs them on this machine");
  }
  add("host (" + hw.cpuName + "): " + number(hw.cpu.bandwidthGBs) + " GB/s x " +
      number(hw.cpu.efficiency) + ", " + Twine(hw.cpuCores) +
      " cores; a call takes its fixed cost plus the longer of its bytes over "
      "that bandwidth and its measured core-seconds over the cores");
  add("host kernel rates: " + query.rates.source + ", measured on " +
      query.rates.machine + ": " +
      formatv("{0:f1}", query.rates.stepOverheadUs) + " us per call, " +
      formatv("{0:f1}", query.rates.denseCoreNs) +
      " core-ns per densely attended (token, KV head), and per policy a "
      "kept token's attention and its selection's cost per host (token, KV "
      "head); scaled by the KV row's bytes; a core "
      "of the profile does a core's work of the measuring machine");
  add("bytes read per tier: the compiler's read model (hgc plan, "
      "hgc_kernel_step_bytes) with what the KV runtime keeps for the policy, "
      "pages of " +
      Twine(kPageTokens) +
      " tokens; for a batch of more than one sequence the JIT copies the "
      "policy's key metadata (codes, channel-major keys, summaries) into one "
      "buffer: three passes over its bytes at the host's bandwidth");
  return lines;
}
