//===- HostAllocator.cpp - the buffers of compiled host code --------------===//
//
// Every block carries a 64-byte header (more when the alignment asks for it)
// holding the system allocation and its size class, so that free needs no
// lookup. Blocks of 1 MiB and more are rounded up to one of eight classes
// per power of two (at most 12.5% slack) and kept on free, up to a cap
// ($HGC_RT_ALLOC_CACHE_MIB, default 4096); a request of a class takes a kept
// block of it. A KV buffer that grows by one token a step stays in its
// class for many steps.
//
//===----------------------------------------------------------------------===//

#include "hgc-rt/host_alloc.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace {
constexpr size_t kHeader = 64;
constexpr size_t kCachedMin = size_t(1) << 20;

struct Header {
  void *system;  // what aligned_alloc returned
  size_t bytes;  // bytes allocated from the system
  size_t offset; // from `system` to the user pointer
};
static_assert(sizeof(Header) <= kHeader, "header fits");

/// `bytes` rounded up to its class: 8 steps per power of two from 1 MiB.
size_t sizeClass(size_t bytes) {
  if (bytes < kCachedMin)
    return (bytes + 63) / 64 * 64;
  size_t power = size_t(1) << (63 - __builtin_clzll(bytes));
  size_t step = power / 8;
  return (bytes + step - 1) / step * step;
}

class Cache {
public:
  void *take(size_t bytes, size_t offset) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = blocks.find({bytes, offset});
    if (it == blocks.end() || it->second.empty()) {
      ++fresh;
      return nullptr;
    }
    void *system = it->second.back();
    it->second.pop_back();
    cached -= bytes;
    ++reused;
    return system;
  }
  bool keep(void *system, size_t bytes, size_t offset) {
    std::lock_guard<std::mutex> lock(mutex);
    if (cached + bytes > cap())
      return false;
    blocks[{bytes, offset}].push_back(system);
    cached += bytes;
    return true;
  }
  void trim() {
    std::lock_guard<std::mutex> lock(mutex);
    for (auto &entry : blocks)
      for (void *system : entry.second)
        std::free(system);
    blocks.clear();
    cached = 0;
  }
  void stats(hgc_rt_host_alloc_stats *out) {
    std::lock_guard<std::mutex> lock(mutex);
    out->cached_bytes = cached;
    out->reused_blocks = reused;
    out->fresh_blocks = fresh;
  }
  ~Cache() { trim(); }

private:
  static size_t cap() {
    static const size_t bytes = [] {
      const char *text = std::getenv("HGC_RT_ALLOC_CACHE_MIB");
      long long mib = text ? std::atoll(text) : 4096;
      return size_t(mib < 0 ? 0 : mib) << 20;
    }();
    return bytes;
  }
  std::mutex mutex;
  std::map<std::pair<size_t, size_t>, std::vector<void *>> blocks;
  size_t cached = 0;
  uint64_t reused = 0, fresh = 0;
};

Cache &cache() {
  static Cache *instance = new Cache(); // outlives static destructors
  return *instance;
}

void *allocate(size_t alignment, size_t size) {
  if (alignment < 16 || (alignment & (alignment - 1)))
    alignment = 16;
  size_t offset = alignment > kHeader ? alignment : kHeader;
  size_t bytes = sizeClass(size + offset);
  size_t systemAlignment = alignment > 64 ? alignment : 64;
  bytes = (bytes + systemAlignment - 1) / systemAlignment * systemAlignment;
  void *system = bytes >= kCachedMin ? cache().take(bytes, offset) : nullptr;
  if (!system)
    system = std::aligned_alloc(systemAlignment, bytes);
  if (!system)
    return nullptr;
  char *user = static_cast<char *>(system) + offset;
  Header header{system, bytes, offset};
  std::memcpy(user - sizeof(Header), &header, sizeof(Header));
  return user;
}
} // namespace

extern "C" {
void *_mlir_memref_to_llvm_alloc(size_t size) { return allocate(16, size); }

void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size) {
  return allocate(alignment, size);
}

void _mlir_memref_to_llvm_free(void *pointer) {
  if (!pointer)
    return;
  Header header;
  std::memcpy(&header, static_cast<char *>(pointer) - sizeof(Header),
              sizeof(Header));
  if (header.bytes >= kCachedMin &&
      cache().keep(header.system, header.bytes, header.offset))
    return;
  std::free(header.system);
}

void hgc_rt_host_free(void *pointer) { _mlir_memref_to_llvm_free(pointer); }

void hgc_rt_host_alloc_get_stats(hgc_rt_host_alloc_stats *stats) {
  if (stats)
    cache().stats(stats);
}

void hgc_rt_host_alloc_trim(void) { cache().trim(); }
}
