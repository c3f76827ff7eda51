//===- ThroughputModel.h - predicted decode throughput ----------*- C++ -*-===//
//
// Per-step time and tokens/s of one decode step of a model (every layer,
// every sequence of a batch) on a hardware profile, for five ways to keep
// its KV:
//
//   gpu-only        all KV in GPU memory, attended there (when it fits);
//   offload-only    all KV in host memory, each layer's streamed over the
//                   link to the GPU every step, the next layer's copy
//                   overlapping this layer's compute (FlexGen-style);
//   head-stream     HeadInfer: as many KV heads as GPU memory holds live
//                   there whole; the others live on the host and are
//                   streamed to the GPU a head at a time, each copy
//                   overlapping the previous head's compute (the runtime's
//                   hgc_rt_head_stream);
//   cpu-attention   all KV in host memory, attended there by hgc's host
//                   kernels; only queries and outputs cross the link
//                   (NEO-style);
//   hybrid          hgc: sinks and window dense on the GPU, the rest on
//                   the host under a placement policy and budget, the two
//                   partials at once, then the LSE merge.
//
// Bytes come from the compiler's own read model
// (TierPolicyAttr::getStepReadBytes over buildPlacement's placement, what
// `hgc plan` and hgc_kernel_step_bytes print); GPU and link times are bytes
// over the profile's bandwidth times its efficiency; host times are a
// roofline of the same bytes over the host's bandwidth and the measured
// core-seconds of hgc's host kernels (HostKernelRates.h) over its cores.
// Without a GPU (profile `host`) the device tier is host memory and both
// tiers run in one host call, as the JIT runs them here.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_COST_THROUGHPUTMODEL_H
#define HGC_PASSES_COST_THROUGHPUTMODEL_H

#include "passes/PlacementOptions.h"
#include "passes/cost/HardwareProfile.h"
#include "passes/cost/HostKernelRates.h"
#include "passes/cost/ModelShape.h"

#include "llvm/Support/JSON.h"

#include <string>
#include <vector>

namespace mlir::hgc {

enum class Strategy {
  GpuOnly,
  OffloadOnly,
  HeadStream,
  CpuAttention,
  Hybrid,
  BalancedHybrid
};
llvm::StringRef stringifyStrategy(Strategy strategy);

/// One strategy's predicted step.
struct StepPrediction {
  Strategy strategy;
  std::string policy, budget; // hybrid only
  int64_t deviceTokens = 0;   // per sequence and layer on the GPU
  int64_t residentHeads = 0;  // head-stream: KV heads whole on the GPU
  bool fits = true;
  std::string whyNot; // when it does not fit
  // Resident KV of the whole batch, all layers.
  double deviceKVBytes = 0, hostKVBytes = 0;
  // Per step (all layers, the batch).
  double deviceReadBytes = 0, hostReadBytes = 0, linkBytes = 0;
  double deviceSeconds = 0, hostSeconds = 0, linkSeconds = 0;
  double weightSeconds = 0; // the layers' weights, not attention
  double stepSeconds = 0;
  double tokensPerSecond = 0;
};

struct ThroughputQuery {
  ModelShape model;
  HardwareProfile hardware;
  HostKernelRates rates;
  int64_t context = 0, batch = 1;
};

/// The predicted step of one baseline strategy (not Hybrid).
StepPrediction predictBaseline(const ThroughputQuery &query, Strategy strategy);

/// hgc's hybrid under `placement` (a splitting policy); a failure (bad
/// options, no measured rate for the policy) reported through `emitError`.
FailureOr<StepPrediction>
predictHybrid(MLIRContext *context, const ThroughputQuery &query,
              const PlacementOptions &placement,
              function_ref<InFlightDiagnostic()> emitError);

/// hgc's hybrid with the window the split scheduler (SplitScheduler.h)
/// settles on when fed the model's per-layer device time and link + host
/// time for 30 steps, from `placement`'s window up to the GPU's room; the
/// hybrid as given on a profile without a GPU or without room to grow.
FailureOr<StepPrediction>
predictBalancedHybrid(MLIRContext *context, const ThroughputQuery &query,
                      const PlacementOptions &placement,
                      function_ref<InFlightDiagnostic()> emitError);

/// The assumptions behind every prediction, one line each.
std::vector<std::string> getModelAssumptions(const ThroughputQuery &query);

} // namespace mlir::hgc

#endif // HGC_PASSES_COST_THROUGHPUTMODEL_H
