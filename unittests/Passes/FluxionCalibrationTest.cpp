//===- FluxionCalibrationTest.cpp - per-head budgets on constructed heads -===//
//
// Heads built so the right budget is known: a sharp head (its mass on a few
// tokens) needs one chunk, a diffuse one (uniform scores) takes what is
// left; the budgets sum to the total; a head whose relevant tokens sit in
// one contiguous run is served as well by blocks, one whose few relevant
// tokens are scattered is not.
//
//===----------------------------------------------------------------------===//

#include "passes/policies/FluxionCalibration.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <numeric>
#include <random>

using namespace mlir::hgc;

namespace {

constexpr int64_t kDim = 16, kTokens = 2048;

/// Keys ~ N(0, noise^2) and a query of norm `norm` along channel 0.
struct Head {
  std::vector<float> keys, query;
  Head(uint32_t seed, float noise, float norm) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, noise);
    keys.resize(kTokens * kDim);
    for (float &k : keys)
      k = normal(rng);
    query.assign(kDim, 0.0f);
    query[0] = norm;
  }
  /// Token t made relevant: its channel 0 raised by `lift`.
  void lift(int64_t t, float lift) { keys[t * kDim] += lift; }
  std::vector<CalibrationSample> samples() const {
    return {{keys.data(), kTokens, query.data(), 1}};
  }
};

CalibrationOptions options(int64_t total) {
  CalibrationOptions o;
  o.headDim = kDim;
  o.totalTokens = total;
  return o;
}

TEST(FluxionCalibrationTest, SharpHeadGetsLittleDiffuseHeadGetsTheRest) {
  Head sharp(1, 0.1f, 4.0f), diffuse(2, 0.1f, 4.0f);
  std::mt19937 rng(3);
  for (int i = 0; i < 8; ++i)
    sharp.lift(std::uniform_int_distribution<int64_t>(0, kTokens - 1)(rng),
               12.0f);
  std::vector<std::vector<CalibrationSample>> heads = {sharp.samples(),
                                                       diffuse.samples()};
  std::vector<HeadBudget> budgets = calibrateHeadBudgets(heads, options(512));
  ASSERT_EQ(budgets.size(), 2u);
  EXPECT_EQ(budgets[0].tokens, 16);
  EXPECT_EQ(budgets[1].tokens, 512 - 16);
  EXPECT_GT(budgets[0].massKept, 0.99);
  EXPECT_LT(budgets[0].entropy, budgets[1].entropy);
  EXPECT_NEAR(budgets[1].fraction, double(512 - 16) / kTokens, 1e-12);
}

TEST(FluxionCalibrationTest, BudgetsSumToTheTotal) {
  std::vector<Head> made;
  for (uint32_t h = 0; h < 5; ++h)
    made.emplace_back(10 + h, 1.0f, 0.5f + float(h));
  std::vector<std::vector<CalibrationSample>> heads;
  for (const Head &head : made)
    heads.push_back(head.samples());
  for (int64_t total :
       {int64_t{80}, int64_t{333}, int64_t{1000}, 5 * kTokens}) {
    std::vector<HeadBudget> budgets =
        calibrateHeadBudgets(heads, options(total));
    // The chunk every head gets at least: a quarter of a fair share, at
    // most 16.
    int64_t chunk = std::clamp<int64_t>(total / 20, 1, 16);
    int64_t sum = 0;
    for (const HeadBudget &budget : budgets) {
      EXPECT_GE(budget.tokens, chunk) << total;
      sum += budget.tokens;
    }
    EXPECT_EQ(sum, total);
  }
  // Fewer tokens than heads: one each.
  std::vector<HeadBudget> least = calibrateHeadBudgets(heads, options(3));
  for (const HeadBudget &budget : least)
    EXPECT_EQ(budget.tokens, 1);
}

TEST(FluxionCalibrationTest, GranularityFollowsBlockCoherence) {
  // A contiguous run of 128 relevant tokens: blocks of 64 hold it whole
  // (and the budget, 128 of 256, holds two).
  Head run(20, 0.1f, 4.0f);
  for (int64_t t = 512; t < 640; ++t)
    run.lift(t, 8.0f);
  // 16 relevant tokens 128 apart: a block of them holds 1 in 16..64.
  Head scattered(21, 0.1f, 4.0f);
  for (int64_t t = 64; t < kTokens; t += 128)
    scattered.lift(t, 8.0f);
  std::vector<std::vector<CalibrationSample>> heads = {run.samples(),
                                                       scattered.samples()};
  std::vector<HeadBudget> budgets = calibrateHeadBudgets(heads, options(256));
  EXPECT_EQ(budgets[0].block, 64);
  EXPECT_EQ(budgets[1].block, 1);
}

TEST(FluxionCalibrationTest, OutputAwareBudgetsFollowThePredictedError) {
  // With values, the water-filling follows each head's predicted output
  // error: a head whose values are all equal is exact at any budget (its
  // output is that value), so it keeps one chunk however diffuse; a
  // diffuse head of random values takes the rest when nothing estimates
  // its tail.
  Head constant(30, 1.0f, 4.0f), random(31, 1.0f, 4.0f);
  std::vector<float> same(kTokens * kDim, 0.5f), noise(kTokens * kDim);
  std::mt19937 rng(32);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float &v : noise)
    v = normal(rng);
  std::vector<float> hotKeys(4 * kDim, 0.0f), hotValues(4 * kDim, 0.5f);
  auto withValues = [&](const Head &head, const std::vector<float> &values) {
    std::vector<CalibrationSample> samples = head.samples();
    samples[0].values = values.data();
    samples[0].valueDim = kDim;
    samples[0].hotKeys = hotKeys.data();
    samples[0].hotValues = hotValues.data();
    samples[0].hotTokens = 4;
    return samples;
  };
  std::vector<std::vector<CalibrationSample>> heads = {
      withValues(constant, same), withValues(random, noise)};
  CalibrationOptions o = options(512);
  o.estimateTail = false;
  std::vector<HeadBudget> budgets = calibrateHeadBudgets(heads, o);
  EXPECT_EQ(budgets[0].tokens, 16);
  EXPECT_EQ(budgets[1].tokens, 512 - 16);
}

} // namespace
