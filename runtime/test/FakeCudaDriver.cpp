//===- FakeCudaDriver.cpp - a host-memory CUDA driver for tests ----------===//
//
// Exports the driver entry points the runtime resolves, backed by host
// memory, so the CUDA code paths run on machines without a GPU
// (HGC_RT_CUDA_LIBRARY points the runtime here). It is strict where a real
// driver would fail late or silently: device pointers are not host
// addresses, copies are bounds-checked, stream copies land only at
// cuStreamSynchronize (a missing synchronize shows up as stale data), and
// copies can be made to fail on demand.
//
//===----------------------------------------------------------------------===//

#include "FakeCudaDriver.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <vector>

namespace {
constexpr int kSuccess = 0, kInvalidValue = 1;
constexpr uint64_t kDeviceBase = 0x7e00000000000000ull;

struct PendingCopy {
  void *host;
  uint64_t device;
  size_t bytes;
  bool toDevice;
};

struct Driver {
  std::mutex mutex;
  uint64_t next = kDeviceBase;
  std::map<uint64_t, std::vector<char>> allocations;
  std::map<const char *, size_t> registered; // start -> bytes
  std::map<void *, std::vector<PendingCopy>> streams;
  hgc_fake_cuda_stats stats = {};
  int failCopies = 0;

  char *device(uint64_t pointer, size_t bytes) {
    auto it = allocations.upper_bound(pointer);
    if (it == allocations.begin())
      return nullptr;
    --it;
    uint64_t offset = pointer - it->first;
    if (offset + bytes > it->second.size())
      return nullptr;
    return it->second.data() + offset;
  }
  bool pinned(const void *host, size_t bytes) {
    const char *p = static_cast<const char *>(host);
    auto it = registered.upper_bound(p);
    if (it == registered.begin())
      return false;
    --it;
    return p + bytes <= it->first + it->second;
  }
  int enqueue(void *stream, void *host, uint64_t pointer, size_t bytes,
              bool toDevice) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!streams.count(stream) || !device(pointer, bytes))
      return kInvalidValue;
    if (failCopies > 0) {
      --failCopies;
      return kInvalidValue;
    }
    ++(toDevice ? stats.copies_to_device : stats.copies_to_host);
    if (pinned(host, bytes))
      ++stats.pinned_copies;
    streams[stream].push_back({host, pointer, bytes, toDevice});
    return kSuccess;
  }
};

Driver &driver() {
  static Driver instance;
  return instance;
}
} // namespace

extern "C" {
int cuInit(unsigned) { return kSuccess; }
int cuDeviceGetCount(int *count) {
  *count = 1;
  return kSuccess;
}
int cuDeviceGet(int *device, int ordinal) {
  *device = ordinal;
  return ordinal == 0 ? kSuccess : kInvalidValue;
}
int cuDevicePrimaryCtxRetain(void **context, int) {
  static int primary;
  *context = &primary;
  return kSuccess;
}
int cuCtxSetCurrent(void *context) {
  return context ? kSuccess : kInvalidValue;
}

int cuMemAlloc_v2(uint64_t *pointer, size_t bytes) {
  Driver &d = driver();
  std::lock_guard<std::mutex> lock(d.mutex);
  if (bytes == 0)
    return kInvalidValue;
  *pointer = d.next;
  d.allocations[d.next].resize(bytes);
  d.next += (bytes + 255) / 256 * 256 + 256; // gaps catch overruns
  ++d.stats.allocations;
  return kSuccess;
}
int cuMemFree_v2(uint64_t pointer) {
  Driver &d = driver();
  std::lock_guard<std::mutex> lock(d.mutex);
  if (!d.allocations.erase(pointer))
    return kInvalidValue;
  --d.stats.allocations;
  return kSuccess;
}

int cuMemHostRegister_v2(void *memory, size_t bytes, unsigned) {
  Driver &d = driver();
  std::lock_guard<std::mutex> lock(d.mutex);
  d.registered[static_cast<const char *>(memory)] = bytes;
  d.stats.registered_bytes += int64_t(bytes);
  return kSuccess;
}
int cuMemHostUnregister(void *memory) {
  Driver &d = driver();
  std::lock_guard<std::mutex> lock(d.mutex);
  auto it = d.registered.find(static_cast<const char *>(memory));
  if (it == d.registered.end())
    return kInvalidValue;
  d.stats.registered_bytes -= int64_t(it->second);
  d.registered.erase(it);
  return kSuccess;
}

int cuStreamCreate(void **stream, unsigned) {
  Driver &d = driver();
  std::lock_guard<std::mutex> lock(d.mutex);
  *stream = new char;
  d.streams[*stream];
  ++d.stats.streams;
  return kSuccess;
}
int cuStreamDestroy_v2(void *stream) {
  Driver &d = driver();
  std::lock_guard<std::mutex> lock(d.mutex);
  if (!d.streams.erase(stream))
    return kInvalidValue;
  delete static_cast<char *>(stream);
  --d.stats.streams;
  return kSuccess;
}
int cuStreamSynchronize(void *stream) {
  Driver &d = driver();
  std::lock_guard<std::mutex> lock(d.mutex);
  auto it = d.streams.find(stream);
  if (it == d.streams.end())
    return kInvalidValue;
  for (const PendingCopy &copy : it->second) {
    char *memory = d.device(copy.device, copy.bytes);
    if (!memory)
      return kInvalidValue; // freed while the copy was in flight
    if (copy.toDevice)
      std::memcpy(memory, copy.host, copy.bytes);
    else
      std::memcpy(copy.host, memory, copy.bytes);
  }
  it->second.clear();
  return kSuccess;
}
int cuMemcpyHtoDAsync_v2(uint64_t target, const void *source, size_t bytes,
                         void *stream) {
  return driver().enqueue(stream, const_cast<void *>(source), target, bytes,
                          true);
}
int cuMemcpyDtoHAsync_v2(void *target, uint64_t source, size_t bytes,
                         void *stream) {
  return driver().enqueue(stream, target, source, bytes, false);
}

void hgc_fake_cuda_get_stats(hgc_fake_cuda_stats *stats) {
  Driver &d = driver();
  std::lock_guard<std::mutex> lock(d.mutex);
  *stats = d.stats;
}
void hgc_fake_cuda_fail_copies(int count) {
  Driver &d = driver();
  std::lock_guard<std::mutex> lock(d.mutex);
  d.failCopies = count;
}
}
