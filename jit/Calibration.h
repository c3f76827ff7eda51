//===- Calibration.h - Fluxion's per-head budgets for a cache ---*- C++ -*-===//
//
// For a placement whose policy calibrates (fluxion), each layer of an
// hgc_kv_cache keeps the per-KV-head budgets and granularity chosen from
// its real scores (passes/policies/FluxionCalibration.h): on the layer's
// first step (from that step's queries), again every `period` steps when
// the cache asks for it, and whenever the engine calls hgc_calibrate. Steps
// decode with the configuration those budgets make: per-head overrides.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_JIT_CALIBRATION_H
#define HGC_JIT_CALIBRATION_H

#include "jit/Jit.h"

#include "passes/policies/FluxionCalibration.h"

#include <map>
#include <mutex>
#include <vector>

namespace hgc::jit {

class HeadCalibration {
public:
  /// `period` > 0: recalibrate a layer every `period` of its steps.
  explicit HeadCalibration(int32_t period) : period(period) {}

  /// Calibrates `layer` for `config`'s placement from sequences `seqs` of
  /// `cache` and their queries [batch][q_heads][head_dim].
  Failure calibrate(hgc_kv_cache &cache, const AttentionConfig &config,
                    int32_t layer, int32_t batch, const int64_t *seqs,
                    const float *queries);
  /// Whether a step of `config` on `layer` calibrates first: none yet, or
  /// `period` steps since the last. Counts the step.
  bool stepNeedsCalibration(const AttentionConfig &config, int32_t layer);
  /// `config` with its budgets for `layer` as per-head overrides (`config`
  /// itself before a calibration).
  AttentionConfig getConfig(const AttentionConfig &config, int32_t layer) const;
  /// The budgets of `config` for `layer`, per KV head (empty before a
  /// calibration).
  std::vector<mlir::hgc::HeadBudget> getBudgets(const AttentionConfig &config,
                                                int32_t layer) const;

private:
  struct Layer {
    std::vector<mlir::hgc::HeadBudget> budgets;
    int32_t stepsSince = 0;
  };
  /// Per configuration (its describe()) and layer: kernels of different
  /// budgets may share a cache.
  using Key = std::pair<std::string, int32_t>;
  int32_t period;
  mutable std::mutex mutex;
  std::map<Key, Layer> layers;
};

} // namespace hgc::jit

#endif // HGC_JIT_CALIBRATION_H
