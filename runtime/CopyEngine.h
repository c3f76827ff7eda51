//===- CopyEngine.h - asynchronous tier-to-tier copies ----------*- C++ -*-===//
//
// A worker thread runs queued copies; each has a ticket the caller waits on.
// Critical copies (what a step is about to read: a recall, the next staged
// head group) run before background ones (a remap, a prefetch for a later
// layer) that have not started yet, Fluxion's critical path first; within a
// priority, in order. (With CUDA these become stream copies with events; the
// interface stays the same.)
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_COPYENGINE_H
#define HGC_RUNTIME_COPYENGINE_H

#include "Result.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace hgc::rt {

class CopyEngine {
public:
  CopyEngine();
  ~CopyEngine();

  enum class Priority { Critical, Background };

  /// Queues `copy`; returns its ticket.
  uint64_t submit(std::function<Result()> copy,
                  Priority priority = Priority::Critical);
  /// Blocks until the copy of `ticket` ran and returns its result, or
  /// HGC_RT_INVALID_ARGUMENT for a ticket never issued or already waited on.
  Result wait(uint64_t ticket);

private:
  void run();
  bool running(uint64_t ticket) const { return current == ticket; }

  std::mutex mutex;
  std::condition_variable changed;
  using Queue = std::deque<std::pair<uint64_t, std::function<Result()>>>;
  Queue critical, background;
  std::map<uint64_t, Result> finished;
  uint64_t nextTicket = 1;
  uint64_t current = 0; // the ticket the worker is running, or 0
  bool stopping = false;
  std::thread worker;
};

} // namespace hgc::rt

#endif // HGC_RUNTIME_COPYENGINE_H
