//===- HostAllocTest.cpp - the allocator of compiled host code ------------===//

#include "hgc-rt/host_alloc.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace {
TEST(HostAlloc, AlignedWritableAndReleased) {
  for (size_t alignment : {16, 64, 128, 4096})
    for (size_t size : {size_t(1), size_t(1000), size_t(3) << 20}) {
      auto *p = static_cast<uint8_t *>(
          _mlir_memref_to_llvm_aligned_alloc(alignment, size));
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % alignment, 0u);
      std::memset(p, 0xab, size);
      EXPECT_EQ(p[size - 1], 0xab);
      hgc_rt_host_free(p);
    }
  hgc_rt_host_free(nullptr);
}

TEST(HostAlloc, LargeBlocksOfOneClassAreReused) {
  hgc_rt_host_alloc_trim();
  hgc_rt_host_alloc_stats before, after;
  hgc_rt_host_alloc_get_stats(&before);
  // A buffer that grows by a little each step stays in its size class.
  void *first = _mlir_memref_to_llvm_alloc(8u << 20);
  std::memset(first, 1, 8u << 20);
  _mlir_memref_to_llvm_free(first);
  hgc_rt_host_alloc_get_stats(&after);
  EXPECT_GE(after.cached_bytes, 8u << 20);
  void *second = _mlir_memref_to_llvm_alloc((8u << 20) + 4096);
  EXPECT_EQ(second, first);
  hgc_rt_host_alloc_get_stats(&after);
  EXPECT_EQ(after.reused_blocks, before.reused_blocks + 1);
  // Another class is a fresh block.
  void *other = _mlir_memref_to_llvm_alloc(12u << 20);
  EXPECT_NE(other, first);
  _mlir_memref_to_llvm_free(second);
  _mlir_memref_to_llvm_free(other);
  hgc_rt_host_alloc_trim();
  hgc_rt_host_alloc_get_stats(&after);
  EXPECT_EQ(after.cached_bytes, 0u);
}

TEST(HostAlloc, ThreadsShareTheCache) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 50; ++i) {
        size_t size = (size_t(1) << 20) * (1 + (t + i) % 3);
        auto *p = static_cast<uint8_t *>(_mlir_memref_to_llvm_alloc(size));
        p[0] = uint8_t(t);
        p[size - 1] = uint8_t(i);
        EXPECT_EQ(p[0], uint8_t(t));
        _mlir_memref_to_llvm_free(p);
      }
    });
  for (std::thread &thread : threads)
    thread.join();
  hgc_rt_host_alloc_trim();
}
} // namespace
