//===- PageStore.cpp - fixed-size page slots of one memory tier ----------===//

#include "PageStore.h"
#include "Numa.h"

#include <algorithm>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace hgc::rt;

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
                               std::string &) {
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
/// Host memory in arenas of many slots, so that NUMA binding and CUDA page
/// registration (both per mapping, both costly) happen once per arena.
class HostStore final : public PageStore {
public:
  HostStore(hgc_rt_tier tier, size_t bytes, int64_t capacity,
            HostPlacement placement)
      : PageStore(tier, bytes, capacity), placement(std::move(placement)),
        stride((bytes + 63) / 64 * 64) {
    size_t perArena = std::max<size_t>(1, kArenaBytes / stride);
    if (capacity > 0)
      perArena = std::min<size_t>(perArena, size_t(capacity));
    slotsPerArena = perArena;
    size_t page = size_t(sysconf(_SC_PAGESIZE));
    arenaBytes = (slotsPerArena * stride + page - 1) / page * page;
  }
  ~HostStore() override {
    for (char *arena : arenas) {
      if (placement.driver)
        placement.driver->unregisterHost(arena);
      munmap(arena, arenaBytes);
    }
  }
  bool isPinned() const override { return placement.driver != nullptr; }

protected:
  hgc_rt_status create(Slot &slot, std::string &error) override {
    size_t arena = size_t(slot.index) / slotsPerArena;
    if (arena == arenas.size())
      if (hgc_rt_status status = map(error))
        return status;
    slot.data = arenas[arena] + (size_t(slot.index) % slotsPerArena) * stride;
    return HGC_RT_OK;
  }

private:
  static constexpr size_t kArenaBytes = size_t(2) << 20;

  hgc_rt_status map(std::string &error) {
    void *memory = mmap(nullptr, arenaBytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      error = "out of host memory";
      return HGC_RT_CAPACITY;
    }
    // Arenas go round-robin over the chosen nodes: pages interleave.
    const std::vector<int> &nodes = placement.numaNodes;
    if (!nodes.empty() &&
        !numa::bind(memory, arenaBytes, nodes[arenas.size() % nodes.size()],
                    error)) {
      munmap(memory, arenaBytes);
      return HGC_RT_CAPACITY;
    }
    if (placement.driver &&
        !placement.driver->registerHost(memory, arenaBytes)) {
      munmap(memory, arenaBytes);
      error = "cannot pin host pages for the GPU (cuMemHostRegister)";
      return HGC_RT_CAPACITY;
    }
    arenas.push_back(static_cast<char *>(memory));
    return HGC_RT_OK;
  }

  HostPlacement placement;
  size_t stride;
  size_t slotsPerArena;
  size_t arenaBytes;
  std::vector<char *> arenas;
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
    if (ftruncate(fd, offset + static_cast<off_t>(stride)) != 0) {
      error = path + ": cannot grow: " + std::strerror(errno);
      return HGC_RT_IO;
    }
    void *mapping =
        mmap(nullptr, stride, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
    if (mapping == MAP_FAILED) {
      error = path + ": cannot map: " + std::strerror(errno);
      return HGC_RT_IO;
    }
    slot.data = static_cast<char *>(mapping);
    mappings.push_back(slot.data);
    return HGC_RT_OK;
  }

private:
  int fd;
  std::string path;
  size_t stride;
  std::vector<char *> mappings;
};
} // namespace

namespace {
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

std::unique_ptr<PageStore> hgc::rt::createHostStore(hgc_rt_tier tier,
                                                    size_t bytes,
                                                    int64_t capacity,
                                                    HostPlacement placement) {
  return std::make_unique<HostStore>(tier, bytes, capacity,
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
