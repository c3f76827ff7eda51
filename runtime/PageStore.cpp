//===- PageStore.cpp - fixed-size page slots of one memory tier ----------===//

#include "PageStore.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
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
class HeapStore final : public PageStore {
public:
  HeapStore(hgc_rt_tier tier, size_t bytes, int64_t capacity)
      : PageStore(tier, bytes, capacity) {}
  ~HeapStore() override {
    for (char *block : blocks)
      std::free(block);
  }

protected:
  hgc_rt_status create(Slot &slot, std::string &error) override {
    size_t rounded = (slotBytes() + 63) / 64 * 64;
    slot.data = static_cast<char *>(std::aligned_alloc(64, rounded));
    if (!slot.data) {
      error = "out of host memory";
      return HGC_RT_CAPACITY;
    }
    blocks.push_back(slot.data);
    return HGC_RT_OK;
  }

private:
  std::vector<char *> blocks;
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
/// The few CUDA driver entry points the device tier needs, resolved from
/// libcuda.so.1 at run time so that hgc builds and runs without CUDA.
struct CudaDriver {
  using Init = int (*)(unsigned);
  using DeviceGet = int (*)(int *, int);
  using DeviceGetCount = int (*)(int *);
  using PrimaryCtxRetain = int (*)(void **, int);
  using CtxSetCurrent = int (*)(void *);
  using MemAlloc = int (*)(uint64_t *, size_t);
  using MemFree = int (*)(uint64_t);
  using MemcpyHtoD = int (*)(uint64_t, const void *, size_t);
  using MemcpyDtoH = int (*)(void *, uint64_t, size_t);

  void *library = nullptr;
  void *context = nullptr;
  CtxSetCurrent ctxSetCurrent = nullptr;
  MemAlloc memAlloc = nullptr;
  MemFree memFree = nullptr;
  MemcpyHtoD memcpyHtoD = nullptr;
  MemcpyDtoH memcpyDtoH = nullptr;

  template <typename T> T symbol(const char *name) {
    return reinterpret_cast<T>(dlsym(library, name));
  }

  bool open(std::string &error) {
    library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      error = "no CUDA driver (libcuda.so.1)";
      return false;
    }
    auto init = symbol<Init>("cuInit");
    auto count = symbol<DeviceGetCount>("cuDeviceGetCount");
    auto get = symbol<DeviceGet>("cuDeviceGet");
    auto retain = symbol<PrimaryCtxRetain>("cuDevicePrimaryCtxRetain");
    ctxSetCurrent = symbol<CtxSetCurrent>("cuCtxSetCurrent");
    memAlloc = symbol<MemAlloc>("cuMemAlloc_v2");
    memFree = symbol<MemFree>("cuMemFree_v2");
    memcpyHtoD = symbol<MemcpyHtoD>("cuMemcpyHtoD_v2");
    memcpyDtoH = symbol<MemcpyDtoH>("cuMemcpyDtoH_v2");
    int devices = 0, device = 0;
    if (!init || !count || !get || !retain || !ctxSetCurrent || !memAlloc ||
        !memFree || !memcpyHtoD || !memcpyDtoH) {
      error = "libcuda.so.1 lacks a driver entry point";
    } else if (init(0) != 0 || count(&devices) != 0 || devices == 0) {
      error = "no CUDA device";
    } else if (get(&device, 0) != 0 || retain(&context, device) != 0) {
      error = "cannot create a CUDA context";
    } else {
      return true;
    }
    dlclose(library);
    library = nullptr;
    return false;
  }
  /// Binds the context to the calling thread (every thread may copy).
  bool current() const { return ctxSetCurrent(context) == 0; }
};

/// Device pages in CUDA memory; the host reaches them only by copies.
class CudaStore final : public PageStore {
public:
  CudaStore(CudaDriver driver, size_t bytes, int64_t capacity)
      : PageStore(HGC_RT_TIER_DEVICE, bytes, capacity), driver(driver) {}
  ~CudaStore() override {
    if (driver.current())
      for (uint64_t pointer : allocations)
        driver.memFree(pointer);
  }
  bool isCuda() const override { return true; }

  hgc_rt_status write(const Slot &slot, size_t offset, const void *source,
                      size_t count, std::string &error) override {
    if (driver.current() &&
        driver.memcpyHtoD(slot.device + offset, source, count) == 0)
      return HGC_RT_OK;
    error = "host-to-device copy failed";
    return HGC_RT_DEVICE;
  }
  hgc_rt_status read(const Slot &slot, size_t offset, void *target,
                     size_t count, std::string &error) const override {
    if (driver.current() &&
        driver.memcpyDtoH(target, slot.device + offset, count) == 0)
      return HGC_RT_OK;
    error = "device-to-host copy failed";
    return HGC_RT_DEVICE;
  }

protected:
  hgc_rt_status create(Slot &slot, std::string &error) override {
    if (!driver.current() || driver.memAlloc(&slot.device, slotBytes()) != 0) {
      error = "out of device memory";
      return HGC_RT_CAPACITY;
    }
    allocations.push_back(slot.device);
    return HGC_RT_OK;
  }

private:
  CudaDriver driver;
  std::vector<uint64_t> allocations;
};
} // namespace

std::unique_ptr<PageStore>
hgc::rt::createCudaStore(size_t bytes, int64_t capacity, std::string &error) {
  CudaDriver driver;
  if (!driver.open(error))
    return nullptr;
  return std::make_unique<CudaStore>(driver, bytes, capacity);
}

std::unique_ptr<PageStore>
hgc::rt::createHeapStore(hgc_rt_tier tier, size_t bytes, int64_t capacity) {
  return std::make_unique<HeapStore>(tier, bytes, capacity);
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
