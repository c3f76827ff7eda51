//===- SplitScheduler.h - balancing the device and host tiers ---*- C++ -*-===//
//
// A hybrid step finishes when its slower tier does. HybridGen's feedback
// scheduler moves work between tiers until both finish together; this one
// reads each step's measured device time and host time (its selection,
// partial attention and transfers), keeps exponentially smoothed costs per
// token of each tier and, unless those costs say the tiers finish within
// `tolerance` of each other, moves the window (the device's tokens) towards
// the split where the two predicted times are equal, by a damped fraction
// of the distance, in whole pages. Holding still within `tolerance`
// (hysteresis, on the smoothed costs) keeps measurement noise from making
// it oscillate. When the window is at its largest and the host is still the
// slower tier, it adds host threads (the host's cost per token shrinks with
// them); when the window is at its smallest and the device is slower, it gives
// threads back.
//
// The JIT's C API (hgc_scheduler_*) serves it to engines; `hgc plan
// --hardware --balance` runs it on the throughput model's times.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_COST_SPLITSCHEDULER_H
#define HGC_PASSES_COST_SPLITSCHEDULER_H

#include <cstdint>
#include <string>

namespace mlir::hgc {

struct SchedulerOptions {
  int64_t context = 0;   // tokens per sequence the split covers
  int64_t window = 0;    // the first step's device tokens
  int64_t minWindow = 0; // the device keeps at least the sinks and this
  int64_t maxWindow = 0; // the device tier's capacity in tokens
  int64_t quantum = 64;  // moves are whole multiples (the page)
  int32_t threads = 1;   // the first step's host threads
  int32_t minThreads = 1, maxThreads = 1;
  double smoothing = 0.5;  // weight of a new measurement, (0, 1]
  double gain = 0.5;       // fraction of the distance to balance moved
  double tolerance = 0.05; // finish times this close count as balanced
};

/// One step's measured times.
struct TierTimes {
  double deviceSeconds = 0;
  double hostSeconds = 0;     // selection and partial attention
  double transferSeconds = 0; // queries out, partials back (host's path)
};

/// The split the next step should run with.
struct Split {
  int64_t window = 0;
  int32_t threads = 1;
  /// (host path - device) / the slower of the two, from the last step:
  /// > 0 when the host finished last.
  double imbalance = 0;
  bool moved = false; // the last observation changed the split
  int64_t steps = 0;  // observations so far
};

class SplitScheduler {
public:
  /// Options checked first (checkOptions); `options` must be valid.
  explicit SplitScheduler(const SchedulerOptions &options);

  /// An empty string, or what is wrong with `options` (one line).
  static std::string checkOptions(const SchedulerOptions &options);

  /// Takes one step's times (of the split getSplit() gave) and decides the
  /// next split. Times must be finite and >= 0.
  const Split &observe(const TierTimes &times);
  const Split &getSplit() const { return split; }

private:
  SchedulerOptions options;
  Split split;
  // Smoothed seconds per device token and per host token at one thread;
  // < 0 until the first observation.
  double devicePerToken = -1, hostPerTokenThread = -1;
};

} // namespace mlir::hgc

#endif // HGC_PASSES_COST_SPLITSCHEDULER_H
