//===- Calibration.cpp - Fluxion's per-head budgets for a cache -----------===//

#include "jit/Calibration.h"

#include "passes/policies/PlacementPolicy.h"
#include "runtime/Element.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>
#include <memory>
#include <tuple>

using namespace hgc::jit;
using mlir::hgc::CalibrationOptions;
using mlir::hgc::CalibrationSample;
using mlir::hgc::HeadBudget;

namespace {
/// The budget of `budget.tokens` as the placement options spell a fraction
/// (never digits only: that would be a count). Half a token under, so that
/// the selection's ceil(fraction * host tokens) is the count at the
/// calibrated length whatever the rounding, and grows with the context.
std::string fractionText(const mlir::hgc::HeadBudget &budget) {
  if (budget.fraction >= 1.0)
    return "1.0";
  double fraction =
      budget.fraction * (double(budget.tokens) - 0.5) / double(budget.tokens);
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%.17g", fraction);
  if (text.find_first_not_of("0123456789") == std::string::npos)
    text += ".0";
  return text;
}
} // namespace

Failure HeadCalibration::calibrate(hgc_kv_cache &cache,
                                   const AttentionConfig &config, int32_t layer,
                                   int32_t batch, const int64_t *seqs,
                                   const float *queries) {
  // 1. Each sequence's host tokens [sink, length - window), as f32.
  int64_t kvHeads = config.kvHeads, dim = config.headDim;
  int64_t group = config.qHeads / config.kvHeads;
  int64_t sink = config.placement.sink, window = config.placement.window;
  hgc_rt_kv_config runtimeConfig;
  if (hgc_rt_status status =
          hgc_rt_kv_get_config(cache.runtime, &runtimeConfig);
      status != HGC_RT_OK)
    return fromRuntimeStatus(status);
  size_t elementBytes = hgc::rt::dtypeBytes(runtimeConfig.dtype);
  // Per sequence, [kv_heads][tokens][head_dim] f32: the host tokens, and the
  // hot set (sinks, then the window) the outputs are predicted with.
  struct Tokens {
    std::vector<float> keys, values, hotKeys, hotValues;
    int64_t host = 0, hot = 0;
  };
  // A sequence given several times (several queries to calibrate with) is
  // read once.
  std::vector<std::shared_ptr<Tokens>> read(batch);
  std::map<int64_t, std::shared_ptr<Tokens>> bySequence;
  double meanHost = 0;
  for (int32_t b = 0; b < batch; ++b) {
    std::shared_ptr<Tokens> &known = bySequence[seqs[b]];
    if (known) {
      read[b] = known;
      meanHost += double(known->host) / double(batch);
      continue;
    }
    known = read[b] = std::make_shared<Tokens>();
    int64_t length = 0;
    if (hgc_rt_status status =
            hgc_rt_kv_length(cache.runtime, seqs[b], layer, &length);
        status != HGC_RT_OK)
      return fromRuntimeStatus(status);
    Tokens &t = *read[b];
    t.host = std::max<int64_t>(0, length - sink - window);
    t.hot = length - t.host;
    meanHost += double(t.host) / double(batch);
    if (t.host == 0)
      continue;
    std::vector<char> rawKeys(size_t(kvHeads * length * dim) * elementBytes);
    std::vector<char> rawValues(rawKeys.size());
    if (hgc_rt_status status =
            hgc_rt_kv_read(cache.runtime, seqs[b], layer, 0, length,
                           rawKeys.data(), rawValues.data());
        status != HGC_RT_OK)
      return fromRuntimeStatus(status);
    for (auto [raw, host, hot] :
         {std::tuple(&rawKeys, &t.keys, &t.hotKeys),
          std::tuple(&rawValues, &t.values, &t.hotValues)}) {
      host->reserve(size_t(kvHeads * t.host * dim));
      hot->reserve(size_t(kvHeads * t.hot * dim));
      for (int64_t h = 0; h < kvHeads; ++h)
        for (int64_t token = 0; token < length; ++token) {
          bool isHost = token >= sink && token < sink + t.host;
          for (int64_t d = 0; d < dim; ++d)
            (isHost ? host : hot)
                ->push_back(hgc::rt::loadElement(
                    runtimeConfig.dtype,
                    raw->data() +
                        size_t((h * length + token) * dim + d) * elementBytes));
        }
    }
  }
  if (meanHost <= 0)
    return Failure::ok(); // nothing on the host to share out yet

  // 2. The total budget over the KV heads: the placement's per-head budget
  //    (a count, or a fraction of the mean host tokens) times the heads.
  int64_t count = 0;
  double fraction = 0;
  if (!mlir::hgc::parseBudget(config.placement.budget, count, fraction))
    return {HGC_INVALID_ARGUMENT,
            "budget '" + config.placement.budget + "' is not a budget"};
  int64_t perHead = count > 0 ? count : int64_t(std::ceil(fraction * meanHost));
  mlir::FailureOr<mlir::hgc::Tail> tail = mlir::hgc::parseTailOption(
      config.placement, [] { return mlir::InFlightDiagnostic(); });
  CalibrationOptions options;
  options.headDim = dim;
  options.scale = config.scale;
  options.totalTokens = perHead * kvHeads;
  options.estimateTail =
      mlir::succeeded(tail) && *tail != mlir::hgc::Tail::None;
  std::vector<std::vector<CalibrationSample>> heads(kvHeads);
  for (int64_t h = 0; h < kvHeads; ++h)
    for (int32_t b = 0; b < batch; ++b) {
      const Tokens &t = *read[b];
      if (t.host == 0)
        continue;
      CalibrationSample sample;
      sample.keys = t.keys.data() + h * t.host * dim;
      sample.tokens = t.host;
      sample.queries = queries + (int64_t(b) * config.qHeads + h * group) * dim;
      sample.numQueries = group;
      sample.values = t.values.data() + h * t.host * dim;
      sample.valueDim = dim;
      sample.hotKeys = t.hotKeys.data() + h * t.hot * dim;
      sample.hotValues = t.hotValues.data() + h * t.hot * dim;
      sample.hotTokens = t.hot;
      heads[h].push_back(sample);
    }
  std::vector<HeadBudget> budgets =
      mlir::hgc::calibrateHeadBudgets(heads, options);

  std::lock_guard<std::mutex> lock(mutex);
  Layer &state = layers[{config.describe(), layer}];
  state.budgets = std::move(budgets);
  state.stepsSince = 0;
  return Failure::ok();
}

bool HeadCalibration::stepNeedsCalibration(const AttentionConfig &config,
                                           int32_t layer) {
  std::lock_guard<std::mutex> lock(mutex);
  auto found = layers.find({config.describe(), layer});
  if (found == layers.end())
    return true;
  Layer &state = found->second;
  ++state.stepsSince;
  return period > 0 && state.stepsSince >= period;
}

AttentionConfig HeadCalibration::getConfig(const AttentionConfig &config,
                                           int32_t layer) const {
  std::vector<HeadBudget> budgets = getBudgets(config, layer);
  if (budgets.empty())
    return config;
  AttentionConfig calibrated = config;
  calibrated.overrides.clear();
  // Each head's budget and granularity under its own policy (exact tokens,
  // or Quest's blocks), with the placement's tail; runs of equal heads
  // share an override.
  mlir::FailureOr<mlir::hgc::Tail> tail = mlir::hgc::parseTailOption(
      config.placement, [] { return mlir::InFlightDiagnostic(); });
  for (size_t h = 0; h < budgets.size(); ++h) {
    mlir::hgc::PlacementOptions head = config.placement;
    head.policy = budgets[h].block > 1 ? "quest" : "hgca";
    head.budget = fractionText(budgets[h]);
    if (budgets[h].block > 1)
      head.block = budgets[h].block;
    head.tail = mlir::succeeded(tail) ? mlir::hgc::stringifyTail(*tail).str()
                                      : std::string("none");
    if (!calibrated.overrides.empty()) {
      HeadPolicy &last = calibrated.overrides.back();
      if (mlir::hgc::getPlacementKey(last.placement) ==
          mlir::hgc::getPlacementKey(head)) {
        ++last.kvHeads;
        continue;
      }
    }
    calibrated.overrides.push_back({int32_t(h), 1, head});
  }
  return calibrated;
}

std::vector<HeadBudget>
HeadCalibration::getBudgets(const AttentionConfig &config,
                            int32_t layer) const {
  std::lock_guard<std::mutex> lock(mutex);
  auto found = layers.find({config.describe(), layer});
  return found == layers.end() ? std::vector<HeadBudget>{}
                               : found->second.budgets;
}
