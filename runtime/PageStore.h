//===- PageStore.h - fixed-size page slots of one memory tier ---*- C++ -*-===//
//
// Each tier hands out slots of one size. Host and the host-emulated device
// tier carve them from regions of one SlotSpace (NUMA-placed, CUDA-pinned,
// committed in chunks); a far tier from a SlotSpace of its own (its NUMA
// nodes, reads paced to its bandwidth); the storage tier maps slots of a file
// (MAP_SHARED), so pages larger than RAM live on disk and are addressed the
// same way. Slots are reused through a free list; capacity is in slots.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_PAGESTORE_H
#define HGC_RUNTIME_PAGESTORE_H

#include "CudaDriver.h"
#include "SlotSpace.h"
#include "hgc-rt/kv_cache.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hgc::rt {

/// "device", "host", "far" or "storage".
const char *tierName(hgc_rt_tier tier);

/// A page slot: its index in the store and where its bytes are. `data` is
/// null for memory the host cannot address (CUDA device memory), which is
/// then reached through PageStore::read/write only.
struct Slot {
  int64_t index = -1;
  char *data = nullptr;
  uint64_t device = 0;
};

class PageStore {
public:
  virtual ~PageStore() = default;

  /// A free slot, or HGC_RT_CAPACITY / HGC_RT_IO (message in `error`).
  hgc_rt_status allocate(Slot &slot, std::string &error);
  void release(const Slot &slot);
  int64_t used() const;

  /// Copies bytes into / out of a slot (HGC_RT_DEVICE on a failed copy).
  virtual hgc_rt_status write(const Slot &slot, size_t offset,
                              const void *source, size_t count,
                              std::string &error);
  virtual hgc_rt_status read(const Slot &slot, size_t offset, void *target,
                             size_t count, std::string &error) const;
  /// True when slots are CUDA device memory.
  virtual bool isCuda() const { return false; }
  /// True when slots are slots of the cache's SlotSpace.
  virtual bool inSlotSpace() const { return false; }
  /// True when slots are host memory registered with CUDA (DMA-able).
  virtual bool isPinned() const { return false; }
  /// Accounts for `bytes` read from the tier outside read() (attention
  /// over its slots in place): a paced far tier waits for them.
  virtual void charge(size_t /*bytes*/) const {}

  hgc_rt_tier tier() const { return kind; }
  size_t slotBytes() const { return bytes; }

protected:
  PageStore(hgc_rt_tier kind, size_t bytes, int64_t capacity)
      : kind(kind), bytes(bytes), capacity(capacity) {}
  /// Memory for `slot` (its index set), which has never been handed out.
  virtual hgc_rt_status create(Slot &slot, std::string &error) = 0;

private:
  hgc_rt_tier kind;
  size_t bytes;
  int64_t capacity; // 0: unbounded
  mutable std::mutex mutex;
  std::vector<Slot> freeSlots;
  int64_t created = 0;
  int64_t inUse = 0;
};

/// Where host pages go: NUMA nodes to interleave over (empty: the
/// kernel's default policy) and the CUDA driver that pins them (or null).
struct HostPlacement {
  std::vector<int> numaNodes;
  std::shared_ptr<CudaDriver> driver;
};

/// Host memory (and the host-emulated device tier): the slots of `region`.
std::unique_ptr<PageStore> createHostStore(hgc_rt_tier tier, int64_t capacity,
                                           const SlotRegion &region,
                                           HostPlacement placement);

/// Far memory: slots of `region` (a SlotSpace of its own), read through
/// copies, paced to `bytesPerSecond` when > 0 (an emulated link).
std::unique_ptr<PageStore> createFarStore(int64_t capacity,
                                          const SlotRegion &region,
                                          HostPlacement placement,
                                          double bytesPerSecond);

/// CUDA device memory.
std::unique_ptr<PageStore> createCudaStore(std::shared_ptr<CudaDriver> driver,
                                           size_t bytes, int64_t capacity);

/// Slots of a file in `directory` (created, removed on destruction).
std::unique_ptr<PageStore> createFileStore(const std::string &directory,
                                           size_t bytes, int64_t capacity,
                                           std::string &error);

} // namespace hgc::rt

#endif // HGC_RUNTIME_PAGESTORE_H
