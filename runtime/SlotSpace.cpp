//===- SlotSpace.cpp - one address range for every host-addressable page --===//

#include "SlotSpace.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <sys/mman.h>
#include <unistd.h>

using namespace hgc::rt;

namespace {
constexpr size_t kChunkBytes = size_t(2) << 20;
// Block ids reach compiled code as i32, two per slot (keys, values).
constexpr int64_t kMaxSlots = int64_t(1) << 29;
} // namespace

std::unique_ptr<SlotSpace>
SlotSpace::reserve(size_t slotBytes, const std::vector<int64_t> &regionSlots,
                   std::string &error) {
  size_t page = size_t(sysconf(_SC_PAGESIZE));
  // Chunks are the fewest slots that end on a boundary, repeated to about
  // 2 MiB: page-aligned for mprotect, mbind and CUDA registration, and
  // where the slot size allows, 2 MiB-aligned so that transparent huge
  // pages back them (a kernel streaming pages then walks few page tables).
  auto unitFor = [&](size_t boundary) {
    return int64_t(boundary / std::gcd(slotBytes, boundary));
  };
  int64_t unit = unitFor(kChunkBytes);
  bool huge = size_t(unit) * slotBytes <= 8 * kChunkBytes;
  if (!huge)
    unit = unitFor(page);
  int64_t perChunk = std::max<int64_t>(
      unit, int64_t((kChunkBytes / slotBytes + unit - 1) / unit * unit));
  // An unbounded tier holds at most what the machine has memory for.
  int64_t memorySlots =
      int64_t(size_t(sysconf(_SC_PHYS_PAGES)) * page / slotBytes);
  std::unique_ptr<SlotSpace> space(new SlotSpace());
  space->stride = slotBytes;
  for (int64_t requested : regionSlots) {
    int64_t slots = requested > 0 ? requested : memorySlots;
    slots = std::min(slots, kMaxSlots);
    SlotRegion region;
    region.firstSlot = space->total;
    region.slots = slots;
    region.slotBytes = slotBytes;
    region.slotsPerChunk = perChunk;
    // Whole chunks per region, so that every chunk starts on a page.
    space->total += (slots + perChunk - 1) / perChunk * perChunk;
    space->regions.push_back(region);
  }
  if (space->total > 2 * kMaxSlots) {
    error = "too many KV pages for one cache";
    return nullptr;
  }
  space->bytes = size_t(space->total) * slotBytes;
  // Address space only: chunks become memory when a store commits them.
  // One chunk more, to start on a 2 MiB boundary.
  size_t reserved = space->bytes + kChunkBytes;
  void *memory = mmap(nullptr, reserved, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) {
    error = std::string("cannot reserve address space for KV pages: ") +
            std::strerror(errno);
    return nullptr;
  }
  char *start = static_cast<char *>(memory);
  char *aligned = reinterpret_cast<char *>(
      (reinterpret_cast<uintptr_t>(start) + kChunkBytes - 1) &
      ~uintptr_t(kChunkBytes - 1));
  if (aligned > start)
    munmap(start, size_t(aligned - start));
  char *end = start + reserved, *used = aligned + space->bytes;
  if (end > used)
    munmap(used, size_t(end - used));
  space->start = aligned;
  if (huge)
    madvise(aligned, space->bytes, MADV_HUGEPAGE); // a hint: may be off
  for (SlotRegion &region : space->regions)
    region.base = space->start + size_t(region.firstSlot) * slotBytes;
  return space;
}

SlotSpace::~SlotSpace() {
  if (start)
    munmap(start, bytes);
}
