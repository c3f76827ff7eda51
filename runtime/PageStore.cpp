//===- PageStore.cpp - fixed-size page slots of one memory tier ----------===//

#include "PageStore.h"
#include "Faults.h"
#include "Numa.h"
#include "PacedLink.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace hgc::rt;

const char *hgc::rt::tierName(hgc_rt_tier tier) {
  switch (tier) {
  case HGC_RT_TIER_DEVICE:
    return "device";
  case HGC_RT_TIER_HOST:
    return "host";
  case HGC_RT_TIER_FAR:
    return "far";
  case HGC_RT_TIER_STORAGE:
    return "storage";
  }
  return "?";
}

hgc_rt_status PageStore::allocate(Slot &slot, std::string &error) {
  std::lock_guard<std::mutex> lock(mutex);
  if (capacity > 0 && inUse >= capacity) {
    error = "tier full (" + std::to_string(capacity) + " pages)";
    return HGC_RT_CAPACITY;
  }
  if (!freeSlots.empty()) {
    slot = freeSlots.back();
    freeSlots.pop_back();
  } else {
    slot = Slot();
    slot.index = created;
    if (hgc_rt_status status = create(slot, error))
      return status;
    ++created;
  }
  ++inUse;
  return HGC_RT_OK;
}

void PageStore::release(const Slot &slot) {
  std::lock_guard<std::mutex> lock(mutex);
  freeSlots.push_back(slot);
  --inUse;
}

hgc_rt_status PageStore::write(const Slot &slot, size_t offset,
                               const void *source, size_t count,
                               std::string &error) {
  if (faults::shouldFail(HGC_RT_FAULT_COPY)) {
    // As a failing copy engine would: part of the bytes landed.
    std::memcpy(slot.data + offset, source, count / 2);
    error = std::string("a copy into a ") + tierName(kind) +
            " page failed partway (injected fault)";
    return HGC_RT_IO;
  }
  std::memcpy(slot.data + offset, source, count);
  return HGC_RT_OK;
}

hgc_rt_status PageStore::read(const Slot &slot, size_t offset, void *target,
                              size_t count, std::string &) const {
  std::memcpy(target, slot.data + offset, count);
  return HGC_RT_OK;
}

int64_t PageStore::used() const {
  std::lock_guard<std::mutex> lock(mutex);
  return inUse;
}

namespace {
/// Host memory: slots of a SlotSpace region, committed a chunk of many slots
/// at a time, so that NUMA binding and CUDA page registration (both per
/// range, both costly) happen once per chunk.
class HostStore : public PageStore {
public:
  HostStore(hgc_rt_tier tier, int64_t capacity, SlotRegion region,
            HostPlacement placement)
      : PageStore(tier, region.slotBytes, capacity),
        placement(std::move(placement)), region(region),
        chunkBytes(size_t(region.slotsPerChunk) * region.slotBytes) {}
  ~HostStore() override {
    for (size_t chunk = 0; chunk < committed; ++chunk) {
      char *memory = region.base + chunk * chunkBytes;
      if (placement.driver)
        placement.driver->unregisterHost(memory);
      // Back to reserved address space (the SlotSpace unmaps it).
      mmap(memory, chunkBytes, PROT_NONE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    }
  }
  bool isPinned() const override { return placement.driver != nullptr; }
  bool inSlotSpace() const override { return sharesSpace; }

protected:
  hgc_rt_status create(Slot &slot, std::string &error) override {
    if (slot.index >= region.slots) {
      error = "tier full (" + std::to_string(region.slots) +
              " pages of address space)";
      return HGC_RT_CAPACITY;
    }
    size_t chunk = size_t(slot.index / region.slotsPerChunk);
    if (chunk == committed)
      if (hgc_rt_status status = commit(error))
        return status;
    slot.data = region.base + size_t(slot.index) * region.slotBytes;
    return HGC_RT_OK;
  }

private:
  hgc_rt_status commit(std::string &error) {
    char *memory = region.base + committed * chunkBytes;
    if (faults::shouldFail(HGC_RT_FAULT_HOST_MEMORY)) {
      error = "out of host memory (injected fault)";
      return HGC_RT_CAPACITY;
    }
    if (mprotect(memory, chunkBytes, PROT_READ | PROT_WRITE) != 0) {
      error = "out of host memory";
      return HGC_RT_CAPACITY;
    }
    auto undo = [&] { mprotect(memory, chunkBytes, PROT_NONE); };
    // Chunks go round-robin over the chosen nodes: pages interleave.
    const std::vector<int> &nodes = placement.numaNodes;
    if (!nodes.empty() && !numa::bind(memory, chunkBytes,
                                      nodes[committed % nodes.size()], error)) {
      undo();
      return HGC_RT_CAPACITY;
    }
    if (placement.driver &&
        !placement.driver->registerHost(memory, chunkBytes)) {
      undo();
      error = "cannot pin host pages for the GPU (cuMemHostRegister)";
      return HGC_RT_CAPACITY;
    }
    ++committed;
    return HGC_RT_OK;
  }

  HostPlacement placement;
  SlotRegion region;
  size_t chunkBytes;
  size_t committed = 0;

protected:
  /// False for a far tier, whose region is a space of its own.
  bool sharesSpace = true;
};

/// Far memory: host memory of its own address space (on the nodes asked
/// for), read through copies only, each copy paced to the tier's bandwidth
/// when one is set: reads that overlap queue behind each other, as on one
/// link.
class FarStore final : public HostStore {
public:
  FarStore(int64_t capacity, const SlotRegion &region, HostPlacement placement,
           double bytesPerSecond)
      : HostStore(HGC_RT_TIER_FAR, capacity, region, std::move(placement)),
        link(bytesPerSecond) {
    sharesSpace = false;
  }
  hgc_rt_status write(const Slot &slot, size_t offset, const void *source,
                      size_t count, std::string &error) override {
    hgc_rt_status status = HostStore::write(slot, offset, source, count, error);
    charge(count);
    return status;
  }
  hgc_rt_status read(const Slot &slot, size_t offset, void *target,
                     size_t count, std::string &error) const override {
    hgc_rt_status status = HostStore::read(slot, offset, target, count, error);
    charge(count);
    return status;
  }
  void charge(size_t bytes) const override { link.charge(bytes); }

private:
  PacedLink link;
};

class FileStore final : public PageStore {
public:
  FileStore(int fd, std::string path, size_t bytes, int64_t capacity)
      : PageStore(HGC_RT_TIER_STORAGE, bytes, capacity), fd(fd),
        path(std::move(path)),
        stride((bytes + sysconf(_SC_PAGESIZE) - 1) / sysconf(_SC_PAGESIZE) *
               sysconf(_SC_PAGESIZE)) {}
  ~FileStore() override {
    for (char *mapping : mappings)
      munmap(mapping, stride);
    close(fd);
    unlink(path.c_str());
  }

protected:
  hgc_rt_status create(Slot &slot, std::string &error) override {
    off_t offset = static_cast<off_t>(slot.index) * static_cast<off_t>(stride);
    // The slot's blocks are reserved now: a full disk is an error here, not
    // a SIGBUS on the first write through the mapping.
    if (int failed = reserve(offset)) {
      // Back to the slots there are: nothing half-grown stays.
      (void)ftruncate(fd, offset);
      error = path + ": cannot reserve a page: " + std::strerror(failed) +
              (injected ? " (injected fault)" : "");
      return failed == ENOSPC ? HGC_RT_CAPACITY : HGC_RT_IO;
    }
    void *mapping =
        mmap(nullptr, stride, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
    if (mapping == MAP_FAILED) {
      error = path + ": cannot map: " + std::strerror(errno);
      (void)ftruncate(fd, offset);
      return HGC_RT_IO;
    }
    slot.data = static_cast<char *>(mapping);
    mappings.push_back(slot.data);
    return HGC_RT_OK;
  }

private:
  /// Reserves the blocks of the slot at `offset`: 0, or the errno.
  int reserve(off_t offset) {
    injected = true;
    if (faults::shouldFail(HGC_RT_FAULT_STORAGE_NO_SPACE))
      return ENOSPC;
    if (faults::shouldFail(HGC_RT_FAULT_STORAGE_IO))
      return EIO;
    if (faults::shouldFail(HGC_RT_FAULT_STORAGE_SHORT)) {
      // Part of the slot reserved, then the disk filled up.
      (void)posix_fallocate(fd, offset, off_t(stride / 2));
      return ENOSPC;
    }
    injected = false;
    return posix_fallocate(fd, offset, off_t(stride));
  }

  bool injected = false; // the last reserve's failure was injected
  int fd;
  std::string path;
  size_t stride;
  std::vector<char *> mappings;
};

/// Device pages in CUDA memory; the host reaches them only by copies.
class CudaStore final : public PageStore {
public:
  CudaStore(std::shared_ptr<CudaDriver> driver, size_t bytes, int64_t capacity)
      : PageStore(HGC_RT_TIER_DEVICE, bytes, capacity),
        driver(std::move(driver)) {}
  ~CudaStore() override {
    for (uint64_t pointer : allocations)
      driver->free(pointer);
  }
  bool isCuda() const override { return true; }

  hgc_rt_status write(const Slot &slot, size_t offset, const void *source,
                      size_t count, std::string &error) override {
    if (driver->copyToDevice(slot.device + offset, source, count))
      return HGC_RT_OK;
    error = "host-to-device copy failed";
    return HGC_RT_DEVICE;
  }
  hgc_rt_status read(const Slot &slot, size_t offset, void *target,
                     size_t count, std::string &error) const override {
    if (driver->copyToHost(target, slot.device + offset, count))
      return HGC_RT_OK;
    error = "device-to-host copy failed";
    return HGC_RT_DEVICE;
  }

protected:
  hgc_rt_status create(Slot &slot, std::string &error) override {
    if (!driver->allocate(slot.device, slotBytes())) {
      error = "out of device memory";
      return HGC_RT_CAPACITY;
    }
    allocations.push_back(slot.device);
    return HGC_RT_OK;
  }

private:
  std::shared_ptr<CudaDriver> driver;
  std::vector<uint64_t> allocations;
};
} // namespace

std::unique_ptr<PageStore>
hgc::rt::createCudaStore(std::shared_ptr<CudaDriver> driver, size_t bytes,
                         int64_t capacity) {
  return std::make_unique<CudaStore>(std::move(driver), bytes, capacity);
}

std::unique_ptr<PageStore> hgc::rt::createFarStore(int64_t capacity,
                                                   const SlotRegion &region,
                                                   HostPlacement placement,
                                                   double bytesPerSecond) {
  return std::make_unique<FarStore>(capacity, region, std::move(placement),
                                    bytesPerSecond);
}

std::unique_ptr<PageStore> hgc::rt::createHostStore(hgc_rt_tier tier,
                                                    int64_t capacity,
                                                    const SlotRegion &region,
                                                    HostPlacement placement) {
  return std::make_unique<HostStore>(tier, capacity, region,
                                     std::move(placement));
}

std::unique_ptr<PageStore>
hgc::rt::createFileStore(const std::string &directory, size_t bytes,
                         int64_t capacity, std::string &error) {
  std::string pattern = directory + "/hgc-kv-XXXXXX";
  std::vector<char> path(pattern.begin(), pattern.end());
  path.push_back('\0');
  int fd = mkstemp(path.data());
  if (fd < 0) {
    error = directory +
            ": cannot create the storage tier file: " + std::strerror(errno);
    return nullptr;
  }
  return std::make_unique<FileStore>(fd, path.data(), bytes, capacity);
}
