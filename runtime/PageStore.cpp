//===- PageStore.cpp - fixed-size page slots of one memory tier ----------===//

#include "PageStore.h"

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
    slot.index = created;
    if (hgc_rt_status status = create(created, slot.data, error))
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
  hgc_rt_status create(int64_t, char *&data, std::string &error) override {
    size_t rounded = (slotBytes() + 63) / 64 * 64;
    data = static_cast<char *>(std::aligned_alloc(64, rounded));
    if (!data) {
      error = "out of host memory";
      return HGC_RT_CAPACITY;
    }
    blocks.push_back(data);
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
  hgc_rt_status create(int64_t index, char *&data,
                       std::string &error) override {
    off_t offset = static_cast<off_t>(index) * static_cast<off_t>(stride);
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
    data = static_cast<char *>(mapping);
    mappings.push_back(data);
    return HGC_RT_OK;
  }

private:
  int fd;
  std::string path;
  size_t stride;
  std::vector<char *> mappings;
};
} // namespace

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
