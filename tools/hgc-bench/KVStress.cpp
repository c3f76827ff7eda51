//===- KVStress.cpp - hgc-bench kv-stress --------------------------------===//
//
// Soak test of the KV runtime: worker threads append, read back, remap by
// random attention masses, recall and release sequences across every tier
// (tight device, host and far-memory capacities push pages down to the
// file-backed storage tier) for a bounded time. Token contents are a pure
// function of (sequence, layer, token, head, channel), so every read is checked
// without keeping copies. At the end every live token is verified once more.
// With a fault rate every fault of hgc-rt/faults.h is injected at that rate:
// an operation an injected fault fails counts as faulted, not as an error,
// and must still lose nothing.
//
//===----------------------------------------------------------------------===//

#include "KVStress.h"

#include "hgc-rt/faults.h"
#include "hgc-rt/kv_cache.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int32_t kLayers = 2, kHeads = 4, kDim = 64;

uint16_t expected(int64_t seq, int32_t layer, int64_t token, int32_t head,
                  int32_t channel, bool value) {
  uint64_t x = uint64_t(seq) * 0x9E3779B97F4A7C15ull ^
               uint64_t(layer + 1) * 0xC2B2AE3D27D4EB4Full ^
               uint64_t(token) * 0x165667B19E3779F9ull ^
               uint64_t(head * kDim + channel) * 0x27D4EB2F165667C5ull ^
               (value ? 0xFF51AFD7ED558CCDull : 0);
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 29;
  // A finite f16 bit pattern (no NaN/Inf): exponent below 31.
  return uint16_t((x & 0x83ff) | (((x >> 16) % 30) << 10));
}

struct Counters {
  std::atomic<int64_t> ops{0}, verified{0}, lost{0}, errors{0}, faulted{0};
  // The most pages each tier held at a sample (every 256 operations).
  std::atomic<int64_t> peak[HGC_RT_TIERS] = {};
};

void samplePeaks(hgc_rt_kv_cache *cache, Counters &counters) {
  hgc_rt_kv_stats stats{};
  if (hgc_rt_kv_get_stats(cache, &stats) != HGC_RT_OK)
    return;
  for (int t = 0; t < HGC_RT_TIERS; ++t) {
    int64_t seen = counters.peak[t];
    while (stats.pages[t] > seen &&
           !counters.peak[t].compare_exchange_weak(seen, stats.pages[t])) {
    }
  }
}

/// Checks tokens [first, first + count) of (seq, layer) against the pattern.
void verify(hgc_rt_kv_cache *cache, int64_t seq, int32_t layer, int64_t first,
            int64_t count, Counters &counters) {
  if (count == 0)
    return;
  std::vector<uint16_t> k(size_t(kHeads) * count * kDim), v(k.size());
  if (hgc_rt_kv_read(cache, seq, layer, first, count, k.data(), v.data()) !=
      HGC_RT_OK) {
    std::fprintf(stderr, "read failed: %s\n", hgc_rt_last_error());
    counters.lost += count;
    return;
  }
  for (int64_t t = 0; t < count; ++t) {
    bool intact = true;
    for (int32_t h = 0; h < kHeads && intact; ++h)
      for (int32_t d = 0; d < kDim && intact; ++d) {
        size_t at = (size_t(h) * count + t) * kDim + d;
        intact = k[at] == expected(seq, layer, first + t, h, d, false) &&
                 v[at] == expected(seq, layer, first + t, h, d, true);
      }
    if (intact)
      ++counters.verified;
    else
      ++counters.lost;
  }
}

/// Counts a failed operation: faulted when an injected fault failed it,
/// else an error.
void failed(Counters &counters) {
  if (std::strstr(hgc_rt_last_error(), "injected fault"))
    ++counters.faulted;
  else
    ++counters.errors;
}

} // namespace

int runKVStress(const KVStressOptions &options) {
  hgc_rt_kv_config config{};
  config.layers = kLayers;
  config.kv_heads = kHeads;
  config.head_dim = kDim;
  config.dtype = HGC_RT_F16;
  config.page_tokens = 16;
  config.sink = 4;
  config.window = 128;
  config.device_pages = 48;
  config.host_pages = 96;
  config.storage_dir = options.storageDir.c_str();
  config.far_pages = options.farPages;
  config.far_bandwidth_gbs = options.farBandwidthGBs;
  config.quantize_keys = 1;
  hgc_rt_kv_cache *cache = nullptr;
  if (hgc_rt_kv_create(&config, &cache) != HGC_RT_OK) {
    std::fprintf(stderr, "hgc-bench kv-stress: %s\n", hgc_rt_last_error());
    return 1;
  }
  if (options.faultRate > 0)
    for (int fault = 0; fault < HGC_RT_FAULTS; ++fault)
      hgc_rt_fault_inject_rate(hgc_rt_fault(fault), options.faultRate,
                               uint64_t(fault) + 1);
  Counters counters;
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + std::chrono::duration<double>(options.seconds);
  std::vector<std::thread> workers;
  std::mutex liveMutex;
  std::vector<int64_t> live; // sequences alive at the end
  for (int w = 0; w < options.threads; ++w)
    workers.emplace_back([&, w] {
      std::mt19937_64 rng(uint64_t(w) * 7919 + 1);
      int64_t nextSeq = int64_t(w) << 32;
      std::vector<int64_t> mine;
      std::vector<std::vector<int64_t>> lengths;
      auto newSequence = [&] {
        if (hgc_rt_kv_add_sequence(cache, nextSeq) != HGC_RT_OK)
          ++counters.errors;
        mine.push_back(nextSeq++);
        lengths.push_back(std::vector<int64_t>(kLayers, 0));
      };
      for (int i = 0; i < 3; ++i)
        newSequence();
      std::vector<uint16_t> k, v;
      while (std::chrono::steady_clock::now() < deadline &&
             (options.ops == 0 || counters.ops < options.ops)) {
        size_t s = rng() % mine.size();
        int64_t seq = mine[s];
        int32_t layer = int32_t(rng() % kLayers);
        int64_t &length = lengths[s][layer];
        unsigned choice = unsigned(rng() % 100);
        if (choice < 60) { // append
          int64_t n = 1 + int64_t(rng() % 48);
          k.resize(size_t(kHeads) * n * kDim);
          v.resize(k.size());
          for (int32_t h = 0; h < kHeads; ++h)
            for (int64_t t = 0; t < n; ++t)
              for (int32_t d = 0; d < kDim; ++d) {
                size_t at = (size_t(h) * n + t) * kDim + d;
                k[at] = expected(seq, layer, length + t, h, d, false);
                v[at] = expected(seq, layer, length + t, h, d, true);
              }
          hgc_rt_kv_block block{HGC_RT_F16, kHeads,   kDim,
                                n,          k.data(), v.data()};
          if (hgc_rt_kv_append(cache, seq, layer, &block) == HGC_RT_OK)
            length += n;
          else
            failed(counters);
        } else if (choice < 85) { // read a random range back
          if (length > 0) {
            int64_t first = int64_t(rng() % length);
            verify(cache, seq, layer, first,
                   std::min<int64_t>(length - first, 64), counters);
          }
        } else if (choice < 89) { // report masses and remap (HybridGen)
          int64_t pages = (length + 15) / 16;
          std::vector<float> masses(static_cast<size_t>(pages));
          for (float &mass : masses)
            mass = float(rng() % 1000) / 100.0f;
          uint64_t ticket = 0;
          if (hgc_rt_kv_add_page_mass(cache, seq, layer, masses.data(), pages,
                                      0.5f) != HGC_RT_OK ||
              hgc_rt_kv_remap(cache, seq, layer, 0.1f, &ticket) != HGC_RT_OK ||
              hgc_rt_kv_wait(cache, ticket) != HGC_RT_OK)
            failed(counters);
        } else if (choice < 97) { // recall a page to the device
          if (length > 0) {
            uint64_t ticket = 0;
            int64_t page = int64_t(rng() % ((length + 15) / 16));
            if (hgc_rt_kv_recall(cache, seq, layer, page, &ticket) != HGC_RT_OK)
              ++counters.errors;
            hgc_rt_status status = hgc_rt_kv_wait(cache, ticket);
            if (status != HGC_RT_OK && status != HGC_RT_CAPACITY)
              failed(counters);
          }
        } else { // finish a sequence: verify all of it, release, start anew
          for (int32_t l = 0; l < kLayers; ++l)
            verify(cache, seq, l, 0, lengths[s][l], counters);
          if (hgc_rt_kv_release_sequence(cache, seq) != HGC_RT_OK)
            ++counters.errors;
          mine.erase(mine.begin() + s);
          lengths.erase(lengths.begin() + s);
          newSequence();
        }
        if (++counters.ops % 256 == 0)
          samplePeaks(cache, counters);
      }
      for (size_t s = 0; s < mine.size(); ++s)
        for (int32_t l = 0; l < kLayers; ++l) {
          int64_t tokens = -1;
          hgc_rt_kv_length(cache, mine[s], l, &tokens);
          if (tokens != lengths[s][l])
            counters.lost += std::max<int64_t>(0, lengths[s][l] - tokens);
          verify(cache, mine[s], l, 0, lengths[s][l], counters);
        }
      std::lock_guard<std::mutex> lock(liveMutex);
      live.insert(live.end(), mine.begin(), mine.end());
    });
  for (std::thread &worker : workers)
    worker.join();
  hgc_rt_fault_clear();
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  hgc_rt_kv_stats stats{};
  hgc_rt_kv_get_stats(cache, &stats);
  std::printf("threads %d, %.1f s, pages device %lld host %lld far %lld%s "
              "storage %lld\n",
              options.threads, seconds, (long long)stats.pages[0],
              (long long)stats.pages[1], (long long)stats.pages[2],
              stats.far_is_emulated ? " (emulated)" : "",
              (long long)stats.pages[3]);
  std::printf(
      "peak pages device %lld host %lld far %lld storage %lld\n",
      (long long)counters.peak[0].load(), (long long)counters.peak[1].load(),
      (long long)counters.peak[2].load(), (long long)counters.peak[3].load());
  std::printf("verified %lld\n", (long long)counters.verified.load());
  std::printf("lost %lld\n", (long long)counters.lost.load());
  std::printf("moved %lld (%lld token moves)\n", (long long)stats.moved_pages,
              (long long)stats.moved_pages * config.page_tokens);
  int64_t injected = 0;
  for (int fault = 0; fault < HGC_RT_FAULTS; ++fault)
    injected += hgc_rt_fault_count(hgc_rt_fault(fault));
  std::printf("faults injected %lld, operations they failed %lld\n",
              (long long)injected, (long long)counters.faulted.load());
  std::printf("errors %lld\n", (long long)counters.errors.load());
  std::printf("ops/s %.0f\n", double(counters.ops) / seconds);
  hgc_rt_kv_destroy(cache);
  return counters.lost == 0 && counters.errors == 0 ? 0 : 1;
}
