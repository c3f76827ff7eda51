//===- SplitSchedulerTest.cpp - the split scheduler converges -------------===//
//
// Tier times come from cost functions of the split (fixed cost plus a cost
// per token, the host's divided by its threads), optionally with a fixed
// pseudo-random +-4% noise: the scheduler must balance them from a bad
// first split within 20 steps (finish times within 15% of each other) and
// then hold still.
//
//===----------------------------------------------------------------------===//

#include "passes/cost/SplitScheduler.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdint>

using namespace mlir::hgc;

namespace {
struct CostModel {
  double deviceFixed, devicePerToken, hostFixed, hostPerToken;
  int64_t context;
  TierTimes at(const Split &split) const {
    TierTimes times;
    times.deviceSeconds = deviceFixed + devicePerToken * double(split.window);
    times.hostSeconds = hostFixed + hostPerToken *
                                        double(context - split.window) /
                                        double(split.threads);
    return times;
  }
  /// The window where both finish together, at one thread.
  double balanced() const {
    return (hostFixed - deviceFixed + hostPerToken * double(context)) /
           (devicePerToken + hostPerToken);
  }
};

/// A fixed sequence in [1 - 0.04, 1 + 0.04].
struct Noise {
  uint64_t state = 12345;
  double next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return 1.0 + 0.08 * (double(state >> 11) / double(1ull << 53) - 0.5);
  }
};

SchedulerOptions optionsFor(const CostModel &model) {
  SchedulerOptions options;
  options.context = model.context;
  options.window = 1024; // far from balance: the host does almost all
  options.minWindow = 1024;
  options.maxWindow = 120000;
  return options;
}

double imbalance(const TierTimes &t) {
  double slower = std::max(t.deviceSeconds, t.hostSeconds);
  return std::fabs(t.hostSeconds - t.deviceSeconds) / slower;
}

const CostModel kModel{50e-6, 5e-9, 200e-6, 10e-9, 131072};

TEST(SplitSchedulerTest, BalancesWithin20StepsAndHoldsStill) {
  SplitScheduler scheduler(optionsFor(kModel));
  ASSERT_GT(imbalance(kModel.at(scheduler.getSplit())), 0.9);
  for (int step = 0; step < 20; ++step)
    scheduler.observe(kModel.at(scheduler.getSplit()));
  EXPECT_LE(imbalance(kModel.at(scheduler.getSplit())), 0.15);
  EXPECT_NEAR(double(scheduler.getSplit().window), kModel.balanced(),
              0.1 * kModel.balanced());
  // No noise: once balanced it never moves again.
  int64_t settled = scheduler.getSplit().window;
  for (int step = 0; step < 100; ++step)
    EXPECT_FALSE(scheduler.observe(kModel.at(scheduler.getSplit())).moved);
  EXPECT_EQ(scheduler.getSplit().window, settled);
}

TEST(SplitSchedulerTest, NoiseDoesNotMakeItOscillate) {
  SplitScheduler scheduler(optionsFor(kModel));
  Noise noise;
  auto noisy = [&] {
    TierTimes t = kModel.at(scheduler.getSplit());
    t.deviceSeconds *= noise.next();
    t.hostSeconds *= noise.next();
    return t;
  };
  for (int step = 0; step < 20; ++step)
    scheduler.observe(noisy());
  EXPECT_LE(imbalance(kModel.at(scheduler.getSplit())), 0.15);
  int moves = 0;
  for (int step = 0; step < 200; ++step) {
    moves += scheduler.observe(noisy()).moved;
    EXPECT_NEAR(double(scheduler.getSplit().window), kModel.balanced(),
                0.1 * kModel.balanced());
  }
  // The 5% tolerance absorbs most of the +-4% per tier; the smoothed costs
  // keep the rest of the moves small.
  EXPECT_LE(moves, 20);
}

TEST(SplitSchedulerTest, AddsHostThreadsWhenTheWindowIsFull) {
  // At the largest window (65536) one host thread takes 675 us against the
  // device's 116 us: only threads can close the gap.
  CostModel model{50e-6, 1e-9, 20e-6, 10e-9, 131072};
  SchedulerOptions options = optionsFor(model);
  options.maxWindow = 65536;
  options.maxThreads = 8;
  SplitScheduler scheduler(options);
  for (int step = 0; step < 20; ++step)
    scheduler.observe(model.at(scheduler.getSplit()));
  EXPECT_EQ(scheduler.getSplit().window, 65536);
  EXPECT_GE(scheduler.getSplit().threads, 6);
  EXPECT_LE(imbalance(model.at(scheduler.getSplit())), 0.15);
}

TEST(SplitSchedulerTest, GivesThreadsBackWhenTheDeviceIsSlower) {
  // The device is slow (1 us per token): the window shrinks to its least,
  // threads go back (the host idles), and the window settles where the
  // fewer threads' host finishes with the device.
  CostModel model{50e-6, 1e-6, 20e-6, 10e-9, 131072};
  SchedulerOptions options = optionsFor(model);
  options.window = 4096;
  options.threads = options.maxThreads = 8;
  SplitScheduler scheduler(options);
  for (int step = 0; step < 20; ++step)
    scheduler.observe(model.at(scheduler.getSplit()));
  EXPECT_LT(scheduler.getSplit().threads, 8);
  EXPECT_LE(scheduler.getSplit().window, 2048);
  EXPECT_LE(imbalance(model.at(scheduler.getSplit())), 0.15);
}

TEST(SplitSchedulerTest, BadOptionsAreNamed) {
  SchedulerOptions options = optionsFor(kModel);
  EXPECT_EQ(SplitScheduler::checkOptions(options), "");
  options.maxWindow = options.context;
  EXPECT_EQ(SplitScheduler::checkOptions(options),
            "max_window must leave the host tokens (< context)");
  options = optionsFor(kModel);
  options.window = 0;
  EXPECT_EQ(SplitScheduler::checkOptions(options),
            "window must be within [min_window, max_window]");
  options = optionsFor(kModel);
  options.smoothing = 0;
  EXPECT_EQ(SplitScheduler::checkOptions(options),
            "smoothing must be in (0, 1]");
  options = optionsFor(kModel);
  options.threads = 2;
  EXPECT_EQ(SplitScheduler::checkOptions(options),
            "threads must be within [min_threads, max_threads]");
}
} // namespace
