//===- Faults.cpp - faults injected into the KV runtime -------------------===//

#include "Faults.h"

#include <atomic>
#include <cmath>
#include <mutex>
#include <random>
#include <string>

using namespace hgc::rt;

namespace {
struct Plan {
  int64_t skip = 0, count = 0; // a window of failures
  double rate = 0;             // or a probability
  std::mt19937_64 random;
};

std::atomic<bool> anyPlan{false};
std::mutex planMutex;
Plan plans[HGC_RT_FAULTS];
std::atomic<int64_t> injected[HGC_RT_FAULTS];

bool isFault(int fault) { return fault >= 0 && fault < HGC_RT_FAULTS; }

Result badFault(int fault) {
  return Result::error(HGC_RT_INVALID_ARGUMENT,
                       "unknown fault " + std::to_string(fault));
}
} // namespace

bool faults::shouldFail(hgc_rt_fault fault) {
  if (!anyPlan.load(std::memory_order_relaxed) || !isFault(fault))
    return false;
  std::lock_guard<std::mutex> lock(planMutex);
  Plan &plan = plans[fault];
  bool fail = false;
  if (plan.rate > 0) {
    fail =
        std::uniform_real_distribution<double>(0, 1)(plan.random) < plan.rate;
  } else if (plan.skip > 0) {
    --plan.skip;
  } else if (plan.count > 0) {
    --plan.count;
    fail = true;
  }
  if (fail)
    ++injected[fault];
  return fail;
}

Result faults::inject(int fault, int64_t skip, int64_t count) {
  if (!isFault(fault))
    return badFault(fault);
  if (skip < 0 || count < 0)
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "skip and count must be >= 0");
  std::lock_guard<std::mutex> lock(planMutex);
  plans[fault] = Plan{skip, count, 0, {}};
  anyPlan = true;
  return Result::ok();
}

Result faults::injectRate(int fault, double rate, uint64_t seed) {
  if (!isFault(fault))
    return badFault(fault);
  if (!(rate >= 0 && rate <= 1))
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "fault rate must be in [0, 1]");
  std::lock_guard<std::mutex> lock(planMutex);
  plans[fault] = Plan{0, 0, rate, std::mt19937_64(seed)};
  anyPlan = true;
  return Result::ok();
}

void faults::clear() {
  std::lock_guard<std::mutex> lock(planMutex);
  for (Plan &plan : plans)
    plan = Plan();
  anyPlan = false;
}

int64_t faults::count(int fault) {
  return isFault(fault) ? injected[fault].load() : 0;
}
