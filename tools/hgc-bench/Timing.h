//===- Timing.h - medians of repeated steps ---------------------*- C++ -*-===//

#ifndef HGC_TOOLS_HGCBENCH_TIMING_H
#define HGC_TOOLS_HGCBENCH_TIMING_H

#include "llvm/ADT/STLFunctionalExtras.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

/// The median milliseconds of `step` (nullopt: it failed, its error
/// printed): after warming up for 2 steps and at least half a second
/// (thread pool, page tables, clock ramp), `repeats` steps, or at least 5
/// once 8 seconds have passed.
inline std::optional<double> medianMs(llvm::function_ref<bool()> step,
                                      int repeats) {
  using Clock = std::chrono::steady_clock;
  auto started = Clock::now();
  for (int i = 0;
       i < 2 || Clock::now() - started < std::chrono::milliseconds(500); ++i)
    if (!step())
      return std::nullopt;
  std::vector<double> times;
  started = Clock::now();
  for (int i = 0; i < repeats; ++i) {
    auto start = Clock::now();
    if (!step())
      return std::nullopt;
    times.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - start)
            .count());
    if (times.size() >= 5 && Clock::now() - started > std::chrono::seconds(8))
      break;
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

#endif // HGC_TOOLS_HGCBENCH_TIMING_H
