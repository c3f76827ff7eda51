//===- SplitScheduler.cpp - balancing the device and host tiers -----------===//

#include "passes/cost/SplitScheduler.h"

#include <algorithm>
#include <cmath>

using namespace mlir::hgc;

std::string SplitScheduler::checkOptions(const SchedulerOptions &o) {
  if (o.context <= 0)
    return "context must be > 0";
  if (o.quantum <= 0)
    return "quantum must be > 0";
  if (o.minWindow < 0 || o.minWindow > o.maxWindow)
    return "need 0 <= min_window <= max_window";
  if (o.maxWindow >= o.context)
    return "max_window must leave the host tokens (< context)";
  if (o.window < o.minWindow || o.window > o.maxWindow)
    return "window must be within [min_window, max_window]";
  if (o.minThreads < 1 || o.minThreads > o.maxThreads)
    return "need 1 <= min_threads <= max_threads";
  if (o.threads < o.minThreads || o.threads > o.maxThreads)
    return "threads must be within [min_threads, max_threads]";
  if (!(o.smoothing > 0 && o.smoothing <= 1))
    return "smoothing must be in (0, 1]";
  if (!(o.gain > 0 && o.gain <= 1))
    return "gain must be in (0, 1]";
  if (!(o.tolerance >= 0 && o.tolerance < 1))
    return "tolerance must be in [0, 1)";
  return "";
}

SplitScheduler::SplitScheduler(const SchedulerOptions &options)
    : options(options) {
  split.window = options.window;
  split.threads = options.threads;
}

namespace {
double smooth(double previous, double sample, double weight) {
  return previous < 0 ? sample : previous + weight * (sample - previous);
}
} // namespace

const Split &SplitScheduler::observe(const TierTimes &times) {
  const SchedulerOptions &o = options;
  int64_t window = split.window, hostTokens = o.context - window;
  double device = times.deviceSeconds;
  double host = times.hostSeconds + times.transferSeconds;
  ++split.steps;
  split.moved = false;
  double slower = std::max(device, host);
  split.imbalance = slower > 0 ? (host - device) / slower : 0.0;
  // Costs per token from this step, smoothed; a tier with no tokens says
  // nothing about its cost.
  if (window > 0)
    devicePerToken =
        smooth(devicePerToken, device / double(window), o.smoothing);
  hostPerTokenThread =
      smooth(hostPerTokenThread,
             host * double(split.threads) / double(hostTokens), o.smoothing);
  // Balanced by the smoothed costs (not this step's noisy times): hold
  // still.
  double hostPerToken = hostPerTokenThread / double(split.threads);
  if (devicePerToken >= 0) {
    double smoothDevice = devicePerToken * double(window);
    double smoothHost = hostPerToken * double(hostTokens);
    double smoothSlower = std::max(smoothDevice, smoothHost);
    if (smoothSlower > 0 &&
        std::fabs(smoothHost - smoothDevice) <= o.tolerance * smoothSlower)
      return split;
  }
  // The window where the smoothed costs finish together:
  // d * w = h / threads * (context - w).
  double balanced = devicePerToken > 0 ? hostPerToken * double(o.context) /
                                             (devicePerToken + hostPerToken)
                                       : double(o.maxWindow);
  double target = double(window) + o.gain * (balanced - double(window));
  int64_t next = int64_t(std::llround(target / double(o.quantum))) * o.quantum;
  next = std::clamp(next, o.minWindow, o.maxWindow);
  if (next != window) {
    split.window = next;
    split.moved = true;
    return split;
  }
  // The window cannot move further: threads take up the rest.
  if (split.imbalance > 0 && window == o.maxWindow &&
      split.threads < o.maxThreads) {
    split.threads = std::min<int32_t>(
        o.maxThreads, int32_t(std::ceil(double(split.threads) * host /
                                        std::max(device, 1e-12))));
    split.moved = true;
  } else if (split.imbalance < 0 && window == o.minWindow &&
             split.threads > o.minThreads) {
    split.threads = std::max<int32_t>(
        o.minThreads,
        int32_t(std::floor(double(split.threads) * host / device)));
    split.moved = true;
  }
  return split;
}
