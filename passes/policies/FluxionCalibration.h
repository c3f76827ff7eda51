//===- FluxionCalibration.h - per-head budgets by water-filling -*- C++ -*-===//
//
// Fluxion's calibration: from each KV head's real scores (its host tokens'
// keys and its group's queries, one sample per sequence) it measures the
// head's mass curve (softmax mass, averaged over the group, that its top
// tokens by the selection's score hold, against their count), its entropy
// and its block coherence (the mass its top blocks by Quest's bound hold at
// the same count), then shares a total token budget between the heads by
// water-filling (each next chunk of tokens to the head whose mass curve
// gains most from it, which minimizes the total mass left out for concave
// curves) and gives each head the coarsest granularity that keeps nearly
// the mass its tokens would.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_POLICIES_FLUXIONCALIBRATION_H
#define HGC_PASSES_POLICIES_FLUXIONCALIBRATION_H

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <vector>

namespace mlir::hgc {

/// One sequence's view of one KV head: its host tokens' keys
/// [tokens][headDim] and its group's queries [queries][headDim], f32 rows;
/// with `values` [tokens][valueDim] and the hot set's (sinks and window)
/// keys and values [hotTokens][...], the output each budget would give is
/// predicted too.
struct CalibrationSample {
  const float *keys = nullptr;
  int64_t tokens = 0;
  const float *queries = nullptr;
  int64_t numQueries = 0;
  const float *values = nullptr;
  int64_t valueDim = 0;
  const float *hotKeys = nullptr, *hotValues = nullptr;
  int64_t hotTokens = 0;
};

struct CalibrationOptions {
  int64_t headDim = 0;
  float scale = 0; // 0: 1/sqrt(headDim)
  /// Host tokens attended in total over every KV head of a sequence.
  int64_t totalTokens = 0;
  /// Tokens per water-filling step; every head gets at least one. 0: a
  /// quarter of a head's fair share, between 1 and 16.
  int64_t chunk = 0;
  /// Block sizes a head may be given, coarsest first, each only when the
  /// head's budget holds a whole block; 1 (tokens) is always a candidate.
  std::vector<int64_t> blocks = {64, 32, 16};
  /// A block granularity is taken while the mass it leaves out is at most
  /// this much more (relatively) than tokens leave out at the same count,
  /// plus `slack` absolutely: by default only when it loses nothing.
  double blockLoss = 0.0, slack = 1e-4;
  /// Whether the tokens a selection leaves out are estimated (tail =
  /// summary) in the output error predicted from values.
  bool estimateTail = true;
};

/// What the calibration chose for one KV head and what it measured.
struct HeadBudget {
  /// Host tokens the head attends (a share of totalTokens), and that as a
  /// fraction of its mean host token count.
  int64_t tokens = 0;
  double fraction = 0;
  /// 1: tokens; else blocks of that many tokens.
  int64_t block = 1;
  /// Mean softmax mass its chosen tokens (blocks) hold, over the group's
  /// queries and the samples; and the entropy (nats) of its attention.
  double massKept = 0, entropy = 0;
};

/// The budget of each KV head (`heads[h]`: its samples, one per sequence;
/// at least one, none empty). The tokens sum to options.totalTokens, or to
/// one chunk per head when that is larger. With values in every sample the
/// water-filling minimizes the summed relative error of the heads' outputs
/// predicted for their exact top tokens (and the estimated rest) against
/// exact attention (Fluxion's output awareness); else the mass left out.
std::vector<HeadBudget>
calibrateHeadBudgets(llvm::ArrayRef<std::vector<CalibrationSample>> heads,
                     const CalibrationOptions &options);

} // namespace mlir::hgc

#endif // HGC_PASSES_POLICIES_FLUXIONCALIBRATION_H
