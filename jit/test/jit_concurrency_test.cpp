// Several threads compile (some the same configuration at once, some not)
// and run decode steps on one shared cache concurrently; every result must
// equal the same step run alone. Then the same tokens as engine-owned paged
// KV (shuffled 16-token blocks, hgc_decode_paged) decode as the runtime's
// cache does. Uses the RAII header, as engines would.
#include "hgc/jit.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

namespace {
constexpr int kQHeads = 4, kKvHeads = 2, kDim = 32, kLayers = 2, kThreads = 6;

hgc::AttentionConfig configFor(int variant) {
  hgc::AttentionConfig config;
  config.qHeads = kQHeads;
  config.kvHeads = kKvHeads;
  config.headDim = kDim;
  config.kvDtype = HGC_F32;
  config.policy = variant % 3 == 0   ? "full"
                  : variant % 3 == 1 ? "hgca"
                                     : "quest";
  config.sink = 4;
  config.window = 32;
  config.budget = "0.25";
  return config;
}
} // namespace

int main() {
  try {
    hgc::Context context(HGC_TARGET_HOST, /*threads=*/1, /*cacheDir=*/"");
    hgc::AttentionConfig base = configFor(1);
    hgc::KVCache cache = context.createCache(base, kLayers, /*pageTokens=*/16);
    std::mt19937 random(7);
    std::uniform_real_distribution<float> uniform(-1, 1);
    std::vector<int64_t> seqs = {1, 2, 3};
    std::vector<std::vector<float>> kvOf; // [keys; values] [heads][tokens][dim]
    for (size_t s = 0; s < seqs.size(); ++s) {
      cache.addSequence(seqs[s]);
      int64_t tokens = 100 + 70 * int64_t(s);
      std::vector<float> &kv = kvOf.emplace_back(2 * kKvHeads * tokens * kDim);
      for (float &x : kv)
        x = uniform(random);
      for (int layer = 0; layer < kLayers; ++layer)
        cache.append(seqs[s], layer, tokens, kv.data(),
                     kv.data() + kv.size() / 2);
    }
    std::vector<float> queries(seqs.size() * kQHeads * kDim);
    for (float &x : queries)
      x = uniform(random);

    // Reference results, one thread, one kernel per variant.
    std::vector<std::vector<float>> expected;
    {
      hgc::Context alone(HGC_TARGET_HOST, 1, "");
      for (int variant = 0; variant < 3; ++variant) {
        hgc::Kernel kernel = alone.compile(configFor(variant));
        expected.emplace_back(queries.size());
        cache.decode(kernel, variant % kLayers, seqs, queries.data(),
                     expected.back().data());
      }
    }

    std::vector<std::string> failures(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        try {
          int variant = t % 3;
          hgc::Kernel kernel = context.compile(configFor(variant));
          std::vector<float> out(queries.size());
          for (int step = 0; step < 20; ++step) {
            cache.decode(kernel, variant % kLayers, seqs, queries.data(),
                         out.data());
            if (std::memcmp(out.data(), expected[variant].data(),
                            out.size() * sizeof(float)) != 0) {
              failures[t] = "thread " + std::to_string(t) +
                            ": result differs from the single-thread run";
              return;
            }
          }
        } catch (const hgc::Error &error) {
          failures[t] = error.what();
        }
      });
    for (std::thread &thread : threads)
      thread.join();
    int compiled = 0;
    for (int variant = 0; variant < 3; ++variant)
      compiled += context.compile(configFor(variant)).info().origin ==
                  HGC_KERNEL_COMPILED;
    for (const std::string &failure : failures)
      if (!failure.empty()) {
        std::fprintf(stderr, "FAILED: %s\n", failure.c_str());
        return 1;
      }
    if (compiled != 0) {
      std::fprintf(stderr,
                   "FAILED: kernels compiled again after the threads\n");
      return 1;
    }
    std::printf("jit concurrency: %d threads x 20 steps agree\n", kThreads);

    // Paged: every sequence's tokens in shuffled NHD blocks of 16.
    constexpr int32_t kBlock = 16, kMaxBlocks = 16;
    std::vector<int32_t> tables(seqs.size() * kMaxBlocks, -1), lengths;
    int32_t blocks = 0;
    for (const std::vector<float> &kv : kvOf) {
      int32_t tokens = int32_t(kv.size() / (2 * kKvHeads * kDim));
      lengths.push_back(tokens);
      blocks += (tokens + kBlock - 1) / kBlock;
    }
    std::vector<int32_t> order(blocks);
    for (int32_t i = 0; i < blocks; ++i)
      order[i] = i;
    std::shuffle(order.begin(), order.end(), random);
    size_t blockFloats = size_t(kBlock) * kKvHeads * kDim;
    std::vector<float> keys(blocks * blockFloats), values(keys.size());
    int32_t next = 0;
    for (size_t s = 0; s < seqs.size(); ++s) {
      const std::vector<float> &kv = kvOf[s];
      int32_t tokens = lengths[s];
      for (int32_t t = 0; t < tokens; ++t) {
        if (t % kBlock == 0)
          tables[s * kMaxBlocks + t / kBlock] = order[next++];
        int32_t block = tables[s * kMaxBlocks + t / kBlock];
        for (int h = 0; h < kKvHeads; ++h)
          for (int d = 0; d < kDim; ++d) {
            size_t from = (size_t(h) * tokens + t) * kDim + d;
            size_t to =
                block * blockFloats + ((t % kBlock) * kKvHeads + h) * kDim + d;
            keys[to] = kv[from];
            values[to] = kv[kv.size() / 2 + from];
          }
      }
    }
    hgc::AttentionConfig pagedConfig = configFor(0); // full: every token
    pagedConfig.kvBlockSize = kBlock;
    hgc::Kernel paged = context.compile(pagedConfig);
    hgc_paged_kv kv = {keys.data(),         values.data(),       blocks,
                       tables.data(),       kMaxBlocks,          lengths.data(),
                       /*key_min=*/nullptr, /*key_max=*/nullptr,
                       /*max_summaries=*/0};
    std::vector<float> out(queries.size());
    paged.decodePaged(kv, int32_t(seqs.size()), queries.data(), out.data());
    // Layer 0 holds the same tokens in the runtime's cache (expected[0]).
    for (size_t i = 0; i < out.size(); ++i)
      if (std::fabs(out[i] - expected[0][i]) > 1e-5f) {
        std::fprintf(stderr,
                     "FAILED: paged KV output %zu is %g, the runtime "
                     "cache's %g\n",
                     i, out[i], expected[0][i]);
        return 1;
      }
    std::printf("jit paged KV: %d shuffled blocks decode as the runtime's "
                "cache\n",
                blocks);
    return 0;
  } catch (const hgc::Error &error) {
    std::fprintf(stderr, "FAILED: %s\n", error.what());
    return 1;
  }
}
