//===- RuntimeOwnedBench.cpp - decode steps over runtime-owned pages ------===//

#include "RuntimeOwnedBench.h"
#include "Timing.h"

#include "hgc-c/jit.h"

#include "llvm/Support/raw_ostream.h"

#include <cstring>
#include <memory>
#include <random>
#include <vector>

namespace {
/// Prints the last error of a failed call.
bool check(hgc_status status, const char *what) {
  if (status == HGC_OK)
    return true;
  llvm::errs() << "hgc-bench: " << what << ": " << hgc_status_name(status)
               << ": " << hgc_last_error() << "\n";
  return false;
}

/// `count` random elements of `dtype` (normal, like the bound rows').
std::vector<char> randomElements(std::mt19937 &rng, size_t count,
                                 const std::string &dtype) {
  std::normal_distribution<float> normal;
  size_t bytes = dtype == "f32" ? 4 : 2;
  std::vector<char> data(count * bytes);
  for (size_t i = 0; i < count; ++i) {
    float x = normal(rng);
    if (dtype == "f32") {
      std::memcpy(data.data() + 4 * i, &x, 4);
    } else if (dtype == "f16") {
      _Float16 h = static_cast<_Float16>(x);
      std::memcpy(data.data() + 2 * i, &h, 2);
    } else {
      uint32_t bits;
      std::memcpy(&bits, &x, 4);
      uint16_t top = uint16_t(bits >> 16);
      std::memcpy(data.data() + 2 * i, &top, 2);
    }
  }
  return data;
}

hgc_dtype dtypeOf(const std::string &name) {
  return name == "f32" ? HGC_F32 : name == "f16" ? HGC_F16 : HGC_BF16;
}
} // namespace

std::optional<double> timeRuntimeOwned(const RuntimeOwnedRow &row,
                                       int repeats) {
  hgc_context_options contextOptions;
  hgc_context_options_init(&contextOptions);
  contextOptions.target = HGC_TARGET_HOST;
  contextOptions.cache_dir = "";
  hgc_context *context = nullptr;
  if (!check(hgc_context_create(&contextOptions, &context), "context"))
    return std::nullopt;
  std::unique_ptr<hgc_context, void (*)(hgc_context *)> contextOwner(
      context, hgc_context_release);

  hgc_attention_config config;
  hgc_attention_config_init(&config);
  config.q_heads = int32_t(row.qHeads);
  config.kv_heads = int32_t(row.kvHeads);
  config.head_dim = int32_t(row.headDim);
  config.kv_dtype = dtypeOf(row.dtype);
  std::string budget = std::to_string(row.budget);
  config.placement.policy = row.policy.c_str();
  config.placement.sink = row.sink;
  config.placement.window = row.window;
  config.placement.budget = budget.c_str();
  config.placement.codebook = row.codebook.c_str();
  if (row.block)
    config.placement.block = row.block;
  hgc_kernel *kernel = nullptr;
  if (!check(hgc_compile(context, &config, &kernel), "compile"))
    return std::nullopt;
  std::unique_ptr<hgc_kernel, void (*)(hgc_kernel *)> kernelOwner(
      kernel, hgc_kernel_release);

  hgc_kv_cache_options options;
  hgc_kv_cache_options_init(&options);
  options.page_tokens = int32_t(row.pageTokens);
  hgc_kv_cache *cache = nullptr;
  if (!check(hgc_kv_cache_create(context, &config, &options, &cache), "cache"))
    return std::nullopt;
  std::unique_ptr<hgc_kv_cache, void (*)(hgc_kv_cache *)> cacheOwner(
      cache, hgc_kv_cache_release);

  // The context appended a chunk at a time, as prefill would.
  std::mt19937 rng(7);
  constexpr int64_t kChunk = 4096;
  std::vector<int64_t> seqs(row.batch);
  for (int64_t b = 0; b < row.batch; ++b) {
    seqs[b] = b;
    if (!check(hgc_kv_add_sequence(cache, b), "add sequence"))
      return std::nullopt;
    for (int64_t first = 0; first < row.context; first += kChunk) {
      int64_t tokens = std::min(kChunk, row.context - first);
      size_t count = size_t(row.kvHeads * tokens * row.headDim);
      std::vector<char> keys = randomElements(rng, count, row.dtype),
                        values = randomElements(rng, count, row.dtype);
      if (!check(hgc_kv_append(cache, b, 0, tokens, keys.data(), values.data()),
                 "append"))
        return std::nullopt;
    }
  }
  std::vector<char> queryBytes =
      randomElements(rng, size_t(row.batch * row.qHeads * row.headDim), "f32");
  std::vector<float> queries(row.batch * row.qHeads * row.headDim),
      outputs(queries.size());
  std::memcpy(queries.data(), queryBytes.data(), queryBytes.size());
  return medianMs(
      [&] {
        return check(hgc_decode(kernel, cache, 0, int32_t(row.batch),
                                seqs.data(), queries.data(), outputs.data(),
                                nullptr),
                     "decode");
      },
      repeats);
}
