//===- FluxionCalibration.cpp - per-head budgets by water-filling ---------===//

#include "passes/policies/FluxionCalibration.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <queue>

using namespace mlir;
using namespace mlir::hgc;

namespace {
/// One sample's per-token masses (softmax over its host tokens, averaged
/// over the group's queries), selection scores (the group's maximum) and
/// mean entropy.
struct SampleScores {
  std::vector<double> mass, score;
  double entropy = 0;
};

SampleScores scoreSample(const CalibrationSample &sample, int64_t headDim,
                         double scale) {
  SampleScores out;
  int64_t n = sample.tokens;
  out.mass.assign(n, 0.0);
  out.score.assign(n, -std::numeric_limits<double>::infinity());
  std::vector<double> s(n);
  for (int64_t qi = 0; qi < sample.numQueries; ++qi) {
    const float *q = sample.queries + qi * headDim;
    double top = -std::numeric_limits<double>::infinity();
    for (int64_t t = 0; t < n; ++t) {
      const float *k = sample.keys + t * headDim;
      double dot = 0;
      for (int64_t d = 0; d < headDim; ++d)
        dot += double(q[d]) * double(k[d]);
      s[t] = dot * scale;
      top = std::max(top, s[t]);
      out.score[t] = std::max(out.score[t], s[t]);
    }
    double sum = 0;
    for (int64_t t = 0; t < n; ++t)
      sum += std::exp(s[t] - top);
    double entropy = 0;
    for (int64_t t = 0; t < n; ++t) {
      double p = std::exp(s[t] - top) / sum;
      out.mass[t] += p / double(sample.numQueries);
      if (p > 0)
        entropy -= p * std::log(p);
    }
    out.entropy += entropy / double(sample.numQueries);
  }
  return out;
}

/// The mass the top `count` tokens by score hold, for every count:
/// curve[c] for c in [0, n].
std::vector<double> tokenCurve(const SampleScores &scores,
                               const std::vector<int64_t> &order) {
  std::vector<double> curve(order.size() + 1, 0.0);
  for (size_t i = 0; i < order.size(); ++i)
    curve[i + 1] = curve[i] + scores.mass[order[i]];
  return curve;
}

/// The mass the top blocks of `block` tokens (from the first host token)
/// hold when `count` tokens' worth of blocks (rounded up) are kept, blocks
/// ranked by Quest's bound max_q sum_d max(q_d lo_d, q_d hi_d).
double blockMass(const CalibrationSample &sample, const SampleScores &scores,
                 int64_t headDim, int64_t block, int64_t count) {
  int64_t n = sample.tokens;
  int64_t blocks = (n + block - 1) / block;
  std::vector<double> bound(blocks), mass(blocks, 0.0);
  std::vector<float> lo(headDim), hi(headDim);
  for (int64_t b = 0; b < blocks; ++b) {
    int64_t first = b * block, last = std::min(n, first + block);
    std::fill(lo.begin(), lo.end(), std::numeric_limits<float>::infinity());
    std::fill(hi.begin(), hi.end(), -std::numeric_limits<float>::infinity());
    for (int64_t t = first; t < last; ++t) {
      mass[b] += scores.mass[t];
      for (int64_t d = 0; d < headDim; ++d) {
        float k = sample.keys[t * headDim + d];
        lo[d] = std::min(lo[d], k);
        hi[d] = std::max(hi[d], k);
      }
    }
    bound[b] = -std::numeric_limits<double>::infinity();
    for (int64_t qi = 0; qi < sample.numQueries; ++qi) {
      const float *q = sample.queries + qi * headDim;
      double sum = 0;
      for (int64_t d = 0; d < headDim; ++d)
        sum += std::max(double(q[d]) * lo[d], double(q[d]) * hi[d]);
      bound[b] = std::max(bound[b], sum);
    }
  }
  std::vector<int64_t> order(blocks);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return bound[a] > bound[b]; });
  int64_t keep = std::min(blocks, (count + block - 1) / block);
  double kept = 0;
  for (int64_t i = 0; i < keep; ++i)
    kept += mass[order[i]];
  return kept;
}

/// Relative L2 error against exact attention, averaged over the group's
/// queries, of the output a head gives when its top `count` host tokens by
/// the selection's score (`order`) are attended with the hot set, and the
/// rest dropped or estimated per block of 16 by their exact mass and value
/// mean (the tail after an exact selection), for each count in `grid`.
std::vector<double> errorCurve(const CalibrationSample &sample,
                               const std::vector<int64_t> &order,
                               const std::vector<int64_t> &grid,
                               int64_t headDim, double scale,
                               bool estimateTail) {
  int64_t n = sample.tokens, hot = sample.hotTokens, dv = sample.valueDim;
  constexpr int64_t kBlock = 16;
  std::vector<double> errors(grid.size(), 0.0);
  std::vector<double> e(n), eh(hot), exact(dv), err(dv), blockValue(dv),
      blockWeighted(dv);
  std::vector<char> selected(n);
  auto dot = [&](const float *q, const float *k) {
    double sum = 0;
    for (int64_t d = 0; d < headDim; ++d)
      sum += double(q[d]) * double(k[d]);
    return sum * scale;
  };
  for (int64_t qi = 0; qi < sample.numQueries; ++qi) {
    const float *q = sample.queries + qi * headDim;
    double top = -std::numeric_limits<double>::infinity();
    for (int64_t t = 0; t < n; ++t)
      top = std::max(top, e[t] = dot(q, sample.keys + t * headDim));
    for (int64_t t = 0; t < hot; ++t)
      top = std::max(top, eh[t] = dot(q, sample.hotKeys + t * headDim));
    double total = 0;
    std::fill(exact.begin(), exact.end(), 0.0);
    auto add = [&](double &weight, const float *v) {
      weight = std::exp(weight - top);
      total += weight;
      for (int64_t d = 0; d < dv; ++d)
        exact[d] += weight * v[d];
    };
    for (int64_t t = 0; t < n; ++t)
      add(e[t], sample.values + t * dv);
    for (int64_t t = 0; t < hot; ++t)
      add(eh[t], sample.hotValues + t * dv);
    double norm = 0;
    for (int64_t d = 0; d < dv; ++d)
      norm += exact[d] * exact[d];
    norm = std::sqrt(norm) / total; // |exact output|
    for (size_t g = 0; g < grid.size(); ++g) {
      std::fill(selected.begin(), selected.end(), 0);
      for (int64_t i = 0; i < std::min(grid[g], n); ++i)
        selected[order[i]] = 1;
      // The error's numerator: estimated minus exact unnormalized output.
      std::fill(err.begin(), err.end(), 0.0);
      double dropped = 0;
      for (int64_t start = 0; start < n; start += kBlock) {
        double mass = 0, count = 0;
        std::fill(blockValue.begin(), blockValue.end(), 0.0);
        std::fill(blockWeighted.begin(), blockWeighted.end(), 0.0);
        for (int64_t t = start; t < std::min(n, start + kBlock); ++t) {
          if (selected[t])
            continue;
          mass += e[t];
          count += 1;
          for (int64_t d = 0; d < dv; ++d) {
            blockValue[d] += sample.values[t * dv + d];
            blockWeighted[d] += e[t] * sample.values[t * dv + d];
          }
        }
        dropped += mass;
        for (int64_t d = 0; d < dv; ++d)
          err[d] +=
              (estimateTail && count > 0 ? mass * blockValue[d] / count : 0.0) -
              blockWeighted[d];
      }
      // Dropping renormalizes what is kept by the mass left out.
      double kept = estimateTail ? total : total - dropped;
      double sum = 0;
      for (int64_t d = 0; d < dv; ++d) {
        double estimated = (exact[d] + err[d]) / std::max(kept, 1e-300);
        double delta = estimated - exact[d] / total;
        sum += delta * delta;
      }
      errors[g] +=
          std::sqrt(sum) / std::max(norm, 1e-300) / double(sample.numQueries);
    }
  }
  return errors;
}

/// One head's samples, scored, with their mass curves and, with values,
/// their predicted output errors on a grid of counts.
struct HeadCurves {
  std::vector<SampleScores> scores;
  std::vector<std::vector<double>> curves;
  std::vector<int64_t> grid;
  std::vector<double> errors; // mean over samples, per grid count
  double meanTokens = 0;

  /// Mean mass kept at `count` tokens per sample (clamped to its length).
  double massAt(int64_t count) const {
    double sum = 0;
    for (const std::vector<double> &curve : curves)
      sum += curve[std::min<int64_t>(count, int64_t(curve.size()) - 1)];
    return sum / double(curves.size());
  }
  /// What water-filling maximizes: minus the predicted output error
  /// (linear between grid counts) with values, else the mass kept.
  double benefitAt(int64_t count) const {
    if (grid.empty())
      return massAt(count);
    if (count <= grid.front())
      return -errors.front();
    for (size_t i = 1; i < grid.size(); ++i)
      if (count <= grid[i]) {
        double f = double(count - grid[i - 1]) / double(grid[i] - grid[i - 1]);
        return -((1 - f) * errors[i - 1] + f * errors[i]);
      }
    return -errors.back();
  }
};

/// The selection's order of a sample's host tokens: by score, descending.
std::vector<int64_t> selectionOrder(const SampleScores &scores) {
  std::vector<int64_t> order(scores.score.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return scores.score[a] > scores.score[b];
  });
  return order;
}
} // namespace

std::vector<HeadBudget>
hgc::calibrateHeadBudgets(llvm::ArrayRef<std::vector<CalibrationSample>> heads,
                          const CalibrationOptions &options) {
  int64_t dim = options.headDim;
  double scale =
      options.scale > 0 ? double(options.scale) : 1.0 / std::sqrt(double(dim));
  int64_t heads64 = std::max<int64_t>(1, int64_t(heads.size()));
  int64_t chunk =
      options.chunk > 0
          ? options.chunk
          : std::clamp<int64_t>(options.totalTokens / (4 * heads64), 1, 16);
  std::vector<HeadCurves> curves(heads.size());
  std::vector<HeadBudget> budgets(heads.size());
  bool predictOutputs = !heads.empty();
  for (const std::vector<CalibrationSample> &samples : heads)
    for (const CalibrationSample &sample : samples)
      predictOutputs &= sample.values != nullptr;
  for (size_t h = 0; h < heads.size(); ++h) {
    HeadCurves &head = curves[h];
    int64_t longest = 0;
    for (const CalibrationSample &sample : heads[h])
      longest = std::max(longest, sample.tokens);
    // Counts to predict the error at: doubling from one chunk, and all.
    if (predictOutputs) {
      for (int64_t count = chunk; count < longest; count *= 2)
        head.grid.push_back(count);
      head.grid.push_back(longest);
      head.errors.assign(head.grid.size(), 0.0);
    }
    for (const CalibrationSample &sample : heads[h]) {
      head.scores.push_back(scoreSample(sample, dim, scale));
      std::vector<int64_t> order = selectionOrder(head.scores.back());
      head.curves.push_back(tokenCurve(head.scores.back(), order));
      head.meanTokens += double(sample.tokens) / double(heads[h].size());
      budgets[h].entropy +=
          head.scores.back().entropy / double(heads[h].size());
      if (predictOutputs) {
        std::vector<double> errors = errorCurve(sample, order, head.grid, dim,
                                                scale, options.estimateTail);
        for (size_t g = 0; g < errors.size(); ++g)
          head.errors[g] += errors[g] / double(heads[h].size());
      }
    }
  }

  // Water-filling: one chunk each, then every next chunk (the last one
  // partial) to the head whose predicted error falls most (without values:
  // whose kept mass grows most) with it.
  int64_t total = std::max(options.totalTokens, chunk * int64_t(heads.size()));
  using Gain = std::pair<double, size_t>;
  std::priority_queue<Gain> next;
  // A head holding all its tokens takes no more (its gain is nothing, and
  // another may still need them).
  auto longest = [&](size_t h) {
    int64_t most = 0;
    for (const CalibrationSample &sample : heads[h])
      most = std::max(most, sample.tokens);
    return most;
  };
  auto gain = [&](size_t h, int64_t step) {
    int64_t at = budgets[h].tokens;
    if (at >= longest(h))
      return -std::numeric_limits<double>::infinity();
    return curves[h].benefitAt(at + step) - curves[h].benefitAt(at);
  };
  int64_t left = total;
  for (size_t h = 0; h < heads.size(); ++h) {
    budgets[h].tokens = std::min(chunk, std::max<int64_t>(1, longest(h)));
    left -= budgets[h].tokens;
  }
  for (size_t h = 0; h < heads.size(); ++h)
    next.push({gain(h, std::min(chunk, left)), h});
  while (left > 0 && !next.empty()) {
    size_t h = next.top().second;
    next.pop();
    // Up to the head's tokens while any head has room; past them only when
    // every head is full (a total above what the heads hold).
    int64_t room = longest(h) - budgets[h].tokens;
    int64_t step = std::min(chunk, left);
    if (room > 0)
      step = std::min(step, room);
    budgets[h].tokens += step;
    left -= step;
    next.push({gain(h, std::min(chunk, std::max<int64_t>(left, 1))), h});
  }

  // Granularity: the coarsest block whose mass left out stays within
  // blockLoss (relative) and slack of the tokens'.
  for (size_t h = 0; h < heads.size(); ++h) {
    HeadBudget &budget = budgets[h];
    budget.massKept = curves[h].massAt(budget.tokens);
    budget.fraction = std::min(1.0, double(budget.tokens) /
                                        std::max(1.0, curves[h].meanTokens));
    double tokenLoss = 1.0 - budget.massKept;
    for (int64_t block : options.blocks) {
      if (block > budget.tokens)
        continue;
      double kept = 0;
      for (size_t s = 0; s < heads[h].size(); ++s)
        kept += blockMass(heads[h][s], curves[h].scores[s], dim, block,
                          budget.tokens) /
                double(heads[h].size());
      if (1.0 - kept <= tokenLoss * (1.0 + options.blockLoss) + options.slack) {
        budget.block = block;
        budget.massKept = kept;
        break;
      }
    }
  }
  return budgets;
}
