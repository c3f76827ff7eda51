//===- SlotSpace.h - one address range for every host page ------*- C++ -*-===//
//
// The KV cache's host-addressable tiers (the host tier and the host-emulated
// device tier) carve their page slots from one reservation of address
// space, at one stride, numbered apart: slot `id` of the space is at
// base + id * slotBytes whichever tier holds it. Compiled kernels then read
// every such page in place through a page table of slot ids, from one base.
// Memory is committed a chunk at a time as a tier grows.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_SLOTSPACE_H
#define HGC_RUNTIME_SLOTSPACE_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hgc::rt {

/// The part of a SlotSpace one tier's store owns.
struct SlotRegion {
  char *base = nullptr;  // of its first slot
  int64_t firstSlot = 0; // its first slot's id in the space
  int64_t slots = 0;     // how many it may hold
  size_t slotBytes = 0;
  int64_t slotsPerChunk = 0; // committed together; page-aligned chunks
};

class SlotSpace {
public:
  /// Reserves room for `regionSlots[r]` slots per region (0: as many as the
  /// machine has memory for). Null, with `error`, when the address space
  /// cannot be reserved.
  static std::unique_ptr<SlotSpace>
  reserve(size_t slotBytes, const std::vector<int64_t> &regionSlots,
          std::string &error);
  ~SlotSpace();
  SlotSpace(const SlotSpace &) = delete;
  SlotSpace &operator=(const SlotSpace &) = delete;

  const SlotRegion &region(size_t r) const { return regions[r]; }
  char *base() const { return start; }
  size_t slotBytes() const { return stride; }
  int64_t slots() const { return total; }
  /// The id of the slot at `data` (a slot of one of the regions).
  int64_t slotId(const char *data) const {
    return int64_t(size_t(data - start) / stride);
  }

private:
  SlotSpace() = default;
  char *start = nullptr;
  size_t bytes = 0, stride = 0;
  int64_t total = 0;
  std::vector<SlotRegion> regions;
};

} // namespace hgc::rt

#endif // HGC_RUNTIME_SLOTSPACE_H
