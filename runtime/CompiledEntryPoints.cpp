//===- CompiledEntryPoints.cpp - tier views for compiled code -------------===//
//
// hgc-rt/compiled.h over the C ABI of kv_cache.h. A failure is kept per
// thread (compiled code runs its views on the thread that called it) and
// leaves the view empty, so the compiled code reads nothing it should not.
//
//===----------------------------------------------------------------------===//

#include "hgc-rt/compiled.h"

#include "Element.h"

#include <chrono>
#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {
struct ThreadState {
  bool failed = false;
  std::string error;
  hgc_rt_compiled_stats stats{};
};

ThreadState &state() {
  thread_local ThreadState threadState;
  return threadState;
}

void keepFailure(const char *what, const char *detail = nullptr) {
  ThreadState &s = state();
  if (s.failed)
    return;
  s.failed = true;
  s.error = std::string(what) + ": " + (detail ? detail : hgc_rt_last_error());
}

bool validTier(int32_t tier) {
  return tier >= HGC_RT_COMPILED_ALL_TIERS && tier <= HGC_RT_TIER_STORAGE;
}

hgc_rt_status allTokens(hgc_rt_kv_cache *cache, const int64_t *seqs,
                        int64_t batch, int32_t layer, int64_t &maxTokens) {
  maxTokens = 0;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t tokens = 0;
    if (hgc_rt_status status = hgc_rt_kv_length(cache, seqs[b], layer, &tokens))
      return status;
    maxTokens = tokens > maxTokens ? tokens : maxTokens;
  }
  return HGC_RT_OK;
}

/// Every token of each sequence, read from whatever tier holds it, laid out
/// as a view: [batch][kv_heads][capacity][head_dim], zero padded.
hgc_rt_status viewAll(hgc_rt_kv_cache *cache, const hgc_rt_kv_config &config,
                      const int64_t *seqs, int64_t batch, int32_t layer,
                      int64_t capacity, char *keys, char *values,
                      int32_t *lengths) {
  size_t row = size_t(config.head_dim) * hgc::rt::dtypeBytes(config.dtype);
  size_t headBytes = size_t(capacity) * row;
  size_t perSequence = size_t(config.kv_heads) * headBytes;
  std::memset(keys, 0, perSequence * batch);
  std::memset(values, 0, perSequence * batch);
  std::vector<char> readKeys, readValues;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t tokens = 0;
    if (hgc_rt_status status = hgc_rt_kv_length(cache, seqs[b], layer, &tokens))
      return status;
    if (tokens > capacity) {
      keepFailure("KV view", "a sequence grew past the view's capacity");
      return HGC_RT_OUT_OF_RANGE;
    }
    readKeys.resize(config.kv_heads * tokens * row);
    readValues.resize(readKeys.size());
    if (hgc_rt_status status =
            hgc_rt_kv_read(cache, seqs[b], layer, 0, tokens, readKeys.data(),
                           readValues.data()))
      return status;
    for (int32_t h = 0; h < config.kv_heads; ++h) {
      size_t to = b * perSequence + h * headBytes, from = h * tokens * row;
      std::memcpy(keys + to, readKeys.data() + from, tokens * row);
      std::memcpy(values + to, readValues.data() + from, tokens * row);
    }
    lengths[b] = int32_t(tokens);
  }
  return HGC_RT_OK;
}
} // namespace

extern "C" int64_t hgc_rt_compiled_view_tokens(hgc_rt_kv_cache *cache,
                                               const int64_t *seqs,
                                               int64_t batch, int32_t layer,
                                               int32_t tier) {
  int64_t tokens = 0;
  if (!validTier(tier) || batch > INT32_MAX ||
      (tier == HGC_RT_COMPILED_ALL_TIERS
           ? allTokens(cache, seqs, batch, layer, tokens)
           : hgc_rt_kv_view_tokens(cache, seqs, int32_t(batch), layer,
                                   hgc_rt_tier(tier), &tokens)) != HGC_RT_OK) {
    keepFailure("KV view");
    return 0;
  }
  return tokens;
}

extern "C" void hgc_rt_compiled_view(hgc_rt_kv_cache *cache,
                                     const int64_t *seqs, int64_t batch,
                                     int32_t layer, int32_t tier,
                                     int64_t capacity, void *keys, void *values,
                                     int32_t *lengths) {
  auto start = std::chrono::steady_clock::now();
  hgc_rt_kv_config config;
  if (!validTier(tier) || batch > INT32_MAX ||
      hgc_rt_kv_get_config(cache, &config) != HGC_RT_OK ||
      (tier == HGC_RT_COMPILED_ALL_TIERS
           ? viewAll(cache, config, seqs, batch, layer, capacity,
                     static_cast<char *>(keys), static_cast<char *>(values),
                     lengths)
           : hgc_rt_kv_view(cache, seqs, int32_t(batch), layer,
                            hgc_rt_tier(tier), capacity, keys, values,
                            lengths)) != HGC_RT_OK) {
    keepFailure("KV view");
    if (lengths && batch > 0)
      std::memset(lengths, 0, size_t(batch) * sizeof(int32_t));
    return;
  }
  int64_t elementBytes = int64_t(hgc::rt::dtypeBytes(config.dtype));
  int64_t tokens = 0;
  for (int64_t b = 0; b < batch; ++b)
    tokens += lengths[b];
  hgc_rt_compiled_stats &stats = state().stats;
  int32_t slot = tier == HGC_RT_COMPILED_ALL_TIERS ? 0 : tier;
  stats.tokens[slot] += tokens;
  stats.bytes[slot] +=
      2 * tokens * int64_t(config.kv_heads) * config.head_dim * elementBytes;
  stats.seconds[slot] +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
}

namespace {
/// Where a failed size check returns to: the innermost hgc_rt_compiled_call
/// of this thread.
thread_local std::jmp_buf *checkTarget = nullptr;
} // namespace

extern "C" void hgc_rt_compiled_check_size(int64_t actual, int64_t expected,
                                           const char *what) {
  if (actual == expected)
    return;
  ThreadState &s = state();
  s.failed = true;
  s.error = std::string(what) + " (" + std::to_string(actual) + " vs " +
            std::to_string(expected) + " at run time)";
  // Compiled code keeps no C++ objects, so its frames can be skipped.
  if (checkTarget)
    std::longjmp(*checkTarget, 1);
  std::abort(); // compiled code runs under hgc_rt_compiled_call
}

extern "C" int hgc_rt_compiled_call(void (*entry)(void **), void **arguments) {
  std::jmp_buf target;
  std::jmp_buf *previous = checkTarget;
  checkTarget = &target;
  if (setjmp(target)) {
    checkTarget = previous;
    return 1;
  }
  entry(arguments);
  checkTarget = previous;
  return 0;
}

extern "C" void hgc_rt_compiled_reset(void) { state() = ThreadState(); }

extern "C" const char *hgc_rt_compiled_take_error(void) {
  ThreadState &s = state();
  if (!s.failed)
    return nullptr;
  s.failed = false;
  // Stays valid until this thread's next failure or reset.
  return s.error.c_str();
}

extern "C" void hgc_rt_compiled_count_selected(int64_t tokens) {
  state().stats.selected_tokens += tokens;
}

extern "C" void hgc_rt_compiled_get_stats(hgc_rt_compiled_stats *stats) {
  if (stats)
    *stats = state().stats;
}
