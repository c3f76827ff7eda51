//===- CopyEngine.cpp - asynchronous tier-to-tier copies -----------------===//

#include "CopyEngine.h"

using namespace hgc::rt;

CopyEngine::CopyEngine() : worker([this] { run(); }) {}

CopyEngine::~CopyEngine() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  changed.notify_all();
  worker.join();
}

uint64_t CopyEngine::submit(std::function<Result()> copy, Priority priority) {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> lock(mutex);
    ticket = nextTicket++;
    (priority == Priority::Critical ? critical : background)
        .emplace_back(ticket, std::move(copy));
  }
  changed.notify_all();
  return ticket;
}

Result CopyEngine::wait(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mutex);
  if (ticket == 0 || ticket >= nextTicket)
    return Result::error(HGC_RT_INVALID_ARGUMENT, "ticket " +
                                                      std::to_string(ticket) +
                                                      " was never issued");
  auto isQueued = [&] {
    for (const Queue *queue : {&critical, &background})
      for (auto &entry : *queue)
        if (entry.first == ticket)
          return true;
    return false;
  };
  changed.wait(lock, [&] {
    return finished.count(ticket) || (!isQueued() && !running(ticket));
  });
  auto it = finished.find(ticket);
  if (it == finished.end())
    return Result::error(HGC_RT_INVALID_ARGUMENT, "ticket " +
                                                      std::to_string(ticket) +
                                                      " was already waited on");
  Result result = std::move(it->second);
  finished.erase(it);
  return result;
}

void CopyEngine::run() {
  std::unique_lock<std::mutex> lock(mutex);
  while (true) {
    changed.wait(lock, [&] {
      return stopping || !critical.empty() || !background.empty();
    });
    Queue &queue = !critical.empty() ? critical : background;
    if (queue.empty())
      return; // stopping, and every queued copy has run
    auto [ticket, copy] = std::move(queue.front());
    queue.pop_front();
    current = ticket;
    lock.unlock();
    Result result = copy();
    lock.lock();
    current = 0;
    finished[ticket] = std::move(result);
    changed.notify_all();
  }
}
