//===- PacedLink.h - transfers paced to an emulated link's rate -*- C++ -*-===//
//
// A link of a given bandwidth that transfers queue on: each charge of
// `bytes` ends bytes / rate after the later of now and the end of the
// previous one, and the caller sleeps until then. What the far tier and the
// head stream's staging copies use to emulate CXL or PCIe on a machine
// without either.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_PACEDLINK_H
#define HGC_RUNTIME_PACEDLINK_H

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <thread>

namespace hgc::rt {

class PacedLink {
public:
  /// `bytesPerSecond` <= 0: no pacing at all.
  explicit PacedLink(double bytesPerSecond) : bytesPerSecond(bytesPerSecond) {}

  bool isPaced() const { return bytesPerSecond > 0; }

  /// Waits until `bytes` could have crossed the link behind every transfer
  /// charged before.
  void charge(size_t bytes) const {
    if (bytesPerSecond <= 0)
      return;
    using Clock = std::chrono::steady_clock;
    Clock::time_point done;
    {
      std::lock_guard<std::mutex> lock(mutex);
      Clock::time_point start = std::max(Clock::now(), linkFree);
      linkFree =
          start +
          std::chrono::duration_cast<Clock::duration>(
              std::chrono::duration<double>(double(bytes) / bytesPerSecond));
      done = linkFree;
    }
    std::this_thread::sleep_until(done);
  }

private:
  double bytesPerSecond;
  mutable std::mutex mutex;
  mutable std::chrono::steady_clock::time_point linkFree;
};

} // namespace hgc::rt

#endif // HGC_RUNTIME_PACEDLINK_H
