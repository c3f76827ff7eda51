//===- TestSupport.h - helpers for the runtime tests ------------*- C++ -*-===//

#ifndef HGC_RUNTIME_TEST_TESTSUPPORT_H
#define HGC_RUNTIME_TEST_TESTSUPPORT_H

#include "hgc-rt/kv_cache.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace hgc_rt_test {

inline size_t elementBytes(hgc_rt_dtype dtype) {
  return dtype == HGC_RT_F32 ? 4 : 2;
}

/// Random bytes for `tokens` tokens of keys or values, [heads][tokens][dim].
/// Half-precision payloads are kept finite so summaries are comparable.
inline std::vector<uint8_t>
randomKV(std::mt19937_64 &rng, const hgc_rt_kv_config &config, int64_t tokens) {
  size_t count = size_t(config.kv_heads) * tokens * config.head_dim;
  std::vector<uint8_t> bytes(count * elementBytes(config.dtype));
  std::normal_distribution<float> normal;
  for (size_t i = 0; i < count; ++i) {
    float x = normal(rng);
    if (config.dtype == HGC_RT_F32) {
      std::memcpy(bytes.data() + 4 * i, &x, 4);
    } else {
      uint32_t bits;
      std::memcpy(&bits, &x, 4);
      // bf16: the top half; f16: a finite value's bits from a small range.
      uint16_t half = config.dtype == HGC_RT_BF16
                          ? uint16_t(bits >> 16)
                          : uint16_t(0x3000 + (rng() % 0x1800));
      std::memcpy(bytes.data() + 2 * i, &half, 2);
    }
  }
  return bytes;
}

/// A fresh directory for the storage tier, removed with its contents when
/// the test program exits; "/tmp" itself (never removed) when none can be
/// made.
inline std::string temporaryDirectory() {
  struct Made {
    std::vector<std::string> directories;
    ~Made() {
      for (const std::string &directory : directories) {
        std::error_code ignored;
        std::filesystem::remove_all(directory, ignored);
      }
    }
  };
  static Made made;
  char pattern[] = "/tmp/hgc-rt-test-XXXXXX";
  const char *dir = mkdtemp(pattern);
  if (!dir)
    return "/tmp";
  made.directories.push_back(dir);
  return dir;
}

} // namespace hgc_rt_test

#endif // HGC_RUNTIME_TEST_TESTSUPPORT_H
