/* Drives hgc-c/jit.h end to end from C (compiled as C11): a context, a
 * hybrid and a full kernel, a KV cache with sequences of different lengths,
 * decode steps checked against attention computed here in double, and every
 * error path. Exits non-zero with a message on the first failure. */
#include "hgc-c/jit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__);                   \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, " (last error: %s)\n", hgc_last_error());                \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)
#define OK(call) CHECK((call) == HGC_OK, "%s", #call)
#define EXPECT_STATUS(call, want)                                              \
  do {                                                                         \
    hgc_status got = (call);                                                   \
    CHECK(got == (want), "%s gave %s, want %s", #call, hgc_status_name(got),   \
          hgc_status_name(want));                                              \
    CHECK(hgc_last_error()[0] != '\0', "%s: empty message", #call);            \
  } while (0)

enum { Q_HEADS = 8, KV_HEADS = 2, DIM = 64, LAYERS = 2 };

static unsigned state = 12345;
static float uniform(void) {
  state = state * 1664525u + 1013904223u;
  return (float)((state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* f32 -> IEEE half, round to nearest even (finite, normal range). */
static unsigned short toHalf(float f) {
  unsigned bits;
  memcpy(&bits, &f, 4);
  unsigned sign = (bits >> 16) & 0x8000, exponent = (bits >> 23) & 0xff;
  unsigned mantissa = bits & 0x7fffff;
  if (exponent < 113)
    return (unsigned short)sign;
  unsigned half = sign | ((exponent - 112) << 10) | (mantissa >> 13);
  unsigned rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half;
  return (unsigned short)half;
}
static float fromHalf(unsigned short h) {
  unsigned sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1f,
           mantissa = h & 0x3ff;
  unsigned bits =
      exponent ? sign | ((exponent + 112) << 23) | (mantissa << 13) : sign;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* Exact attention of one sequence, double: keys/values [heads][n][dim]. */
static void reference(const float *q, const unsigned short *k,
                      const unsigned short *v, long n, double *out) {
  int group = Q_HEADS / KV_HEADS;
  double *scores = malloc(sizeof(double) * n);
  for (int h = 0; h < Q_HEADS; ++h) {
    int hk = h / group;
    double top = -INFINITY, sum = 0;
    for (long t = 0; t < n; ++t) {
      double s = 0;
      for (int d = 0; d < DIM; ++d)
        s += q[h * DIM + d] * fromHalf(k[(hk * n + t) * DIM + d]);
      scores[t] = s / sqrt((double)DIM);
      top = scores[t] > top ? scores[t] : top;
    }
    for (long t = 0; t < n; ++t)
      sum += scores[t] = exp(scores[t] - top);
    for (int d = 0; d < DIM; ++d) {
      double acc = 0;
      for (long t = 0; t < n; ++t)
        acc += scores[t] * fromHalf(v[(hk * n + t) * DIM + d]);
      out[h * DIM + d] = acc / sum;
    }
  }
  free(scores);
}

int main(void) {
  hgc_context_options options;
  hgc_context_options_init(&options);
  options.target = HGC_TARGET_HOST;
  options.cache_dir = "";
  hgc_context *context;
  OK(hgc_context_create(&options, &context));
  CHECK(strcmp(hgc_context_target(context), "host") == 0, "target");

  hgc_attention_config config;
  hgc_attention_config_init(&config);
  CHECK(strcmp(config.placement.policy, "full") == 0 &&
            config.placement.sink == 4 && config.placement.window == 1024 &&
            strcmp(config.placement.budget, "0.05") == 0 &&
            config.placement.block == 16,
        "defaults differ from the driver's");
  config.q_heads = Q_HEADS;
  config.kv_heads = KV_HEADS;
  config.head_dim = DIM;
  config.kv_dtype = HGC_F16;
  config.placement.policy = "hgca";
  config.placement.sink = 4;
  config.placement.window = 32;
  config.placement.budget = "1.0"; /* every host token: exact */
  hgc_kernel *hybrid, *full;
  OK(hgc_compile(context, &config, &hybrid));
  hgc_kernel *again;
  OK(hgc_compile(context, &config, &again));
  hgc_kernel_info info;
  OK(hgc_kernel_get_info(again, &info));
  CHECK(info.origin == HGC_KERNEL_MEMORY, "second compile was not cached");
  hgc_kernel_release(again);
  hgc_attention_config fullConfig = config;
  fullConfig.placement.policy = "full";
  OK(hgc_compile(context, &fullConfig, &full));

  hgc_kv_cache_options cacheOptions;
  hgc_kv_cache_options_init(&cacheOptions);
  cacheOptions.layers = LAYERS;
  cacheOptions.page_tokens = 16;
  cacheOptions.host_pages = 64;
  hgc_kv_cache *cache;
  OK(hgc_kv_cache_create(context, &config, &cacheOptions, &cache));

  long lengths[2] = {300, 97};
  int64_t seqs[2] = {7, 42};
  unsigned short *keys[2], *values[2];
  for (int s = 0; s < 2; ++s) {
    OK(hgc_kv_add_sequence(cache, seqs[s]));
    size_t count = (size_t)KV_HEADS * lengths[s] * DIM;
    keys[s] = malloc(count * 2);
    values[s] = malloc(count * 2);
    for (size_t i = 0; i < count; ++i) {
      keys[s][i] = toHalf(uniform());
      values[s][i] = toHalf(uniform());
    }
    for (int layer = 0; layer < LAYERS; ++layer)
      OK(hgc_kv_append(cache, seqs[s], layer, lengths[s], keys[s], values[s]));
  }
  /* Round trip, bit-exact, across both tiers. */
  unsigned short *back = malloc((size_t)KV_HEADS * 300 * DIM * 2 * 2);
  OK(hgc_kv_read(cache, 7, 1, 0, 300, back, back + KV_HEADS * 300 * DIM));
  CHECK(memcmp(back, keys[0], (size_t)KV_HEADS * 300 * DIM * 2) == 0 &&
            memcmp(back + KV_HEADS * 300 * DIM, values[0],
                   (size_t)KV_HEADS * 300 * DIM * 2) == 0,
        "KV round trip differs");
  hgc_kv_cache_stats cacheStats;
  OK(hgc_kv_cache_get_stats(cache, &cacheStats));
  CHECK(cacheStats.pages[0] > 0 && cacheStats.pages[1] > 0,
        "expected pages on both tiers, got %ld device %ld host",
        (long)cacheStats.pages[0], (long)cacheStats.pages[1]);

  float queries[2 * Q_HEADS * DIM], outputs[2 * Q_HEADS * DIM],
      exact[2 * Q_HEADS * DIM];
  for (int i = 0; i < 2 * Q_HEADS * DIM; ++i)
    queries[i] = uniform();
  hgc_step_stats stats;
  OK(hgc_decode(hybrid, cache, 1, 2, seqs, queries, outputs, &stats));
  OK(hgc_decode(full, cache, 1, 2, seqs, queries, exact, NULL));
  double worst = 0;
  for (int s = 0; s < 2; ++s) {
    double want[Q_HEADS * DIM];
    reference(queries + s * Q_HEADS * DIM, keys[s], values[s], lengths[s],
              want);
    for (int i = 0; i < Q_HEADS * DIM; ++i) {
      double a = fabs(outputs[s * Q_HEADS * DIM + i] - want[i]);
      double b = fabs(exact[s * Q_HEADS * DIM + i] - want[i]);
      worst = a > worst ? a : worst;
      worst = b > worst ? b : worst;
    }
  }
  CHECK(worst < 2e-5, "decode differs from exact attention by %g", worst);
  CHECK(stats.tokens[0] + stats.tokens[1] == 397 && stats.tokens[1] > 0,
        "stats tokens %ld + %ld", (long)stats.tokens[0], (long)stats.tokens[1]);
  CHECK(stats.selected_tokens == KV_HEADS * stats.tokens[1],
        "budget 1.0 selects every host token");
  CHECK(stats.bytes_moved > 0 && stats.seconds > 0, "stats empty");

  /* Selection ahead (every host token at budget 1.0): the same step. */
  hgc_selection *ahead;
  OK(hgc_select_ahead(hybrid, cache, 1, 2, seqs, queries, &ahead));
  hgc_selection_info aheadInfo;
  OK(hgc_selection_get_info(ahead, &aheadInfo));
  CHECK(aheadInfo.batch == 2 && aheadInfo.kv_heads == KV_HEADS &&
            aheadInfo.block == 1 && aheadInfo.count == 300 - 36,
        "selection info %d x %d x %ld", aheadInfo.batch, aheadInfo.kv_heads,
        (long)aheadInfo.count);
  float selected[2 * Q_HEADS * DIM];
  OK(hgc_decode_selected(hybrid, cache, ahead, queries, selected, &stats));
  for (int i = 0; i < 2 * Q_HEADS * DIM; ++i)
    CHECK(fabs(selected[i] - outputs[i]) < 1e-6,
          "decode over a selection ahead differs at %d", i);
  EXPECT_STATUS(hgc_decode_selected(hybrid, cache, NULL, queries, selected,
                                    NULL),
                HGC_INVALID_ARGUMENT);
  EXPECT_STATUS(hgc_select_ahead(full, cache, 1, 2, seqs, queries, &ahead),
                HGC_INVALID_ARGUMENT);
  hgc_selection_release(ahead);
  int64_t recalledPages[4];
  int32_t recalledCount = -1;
  OK(hgc_kv_get_recalled(cache, 7, 1, recalledPages, 4, &recalledCount));
  CHECK(recalledCount == 0, "a cache without recall recalled %d pages",
        recalledCount);

  /* Every error path: a code and a message, nothing changed. */
  hgc_attention_config bad = config;
  bad.kv_heads = 3;
  hgc_kernel *none;
  EXPECT_STATUS(hgc_compile(context, &bad, &none), HGC_INVALID_ARGUMENT);
  bad = config;
  bad.placement.policy = "topp";
  EXPECT_STATUS(hgc_compile(context, &bad, &none), HGC_INVALID_ARGUMENT);
  bad = config;
  bad.placement.budget = "lots";
  EXPECT_STATUS(hgc_compile(context, &bad, &none), HGC_INVALID_ARGUMENT);
  EXPECT_STATUS(hgc_compile(NULL, &config, &none), HGC_INVALID_ARGUMENT);
  bad = config;
  bad.head_dim = 128;
  hgc_kernel *other;
  OK(hgc_compile(context, &bad, &other));
  EXPECT_STATUS(hgc_decode(other, cache, 0, 2, seqs, queries, outputs, NULL),
                HGC_SHAPE_MISMATCH);
  hgc_kernel_release(other);
  int64_t unknown[2] = {7, 1000};
  EXPECT_STATUS(
      hgc_decode(hybrid, cache, 0, 2, unknown, queries, outputs, NULL),
      HGC_UNKNOWN_SEQUENCE);
  EXPECT_STATUS(
      hgc_decode(hybrid, cache, LAYERS, 2, seqs, queries, outputs, NULL),
      HGC_OUT_OF_RANGE);
  EXPECT_STATUS(hgc_decode(hybrid, cache, 0, 0, seqs, queries, outputs, NULL),
                HGC_INVALID_ARGUMENT);
  OK(hgc_kv_add_sequence(cache, 5));
  int64_t empty[1] = {5};
  EXPECT_STATUS(hgc_decode(hybrid, cache, 0, 1, empty, queries, outputs, NULL),
                HGC_OUT_OF_RANGE);
  EXPECT_STATUS(hgc_kv_append(cache, 5, 0, 100000, keys[0], values[0]),
                HGC_CAPACITY);
  int64_t length;
  OK(hgc_kv_length(cache, 5, 0, &length));
  CHECK(length == 0, "a failed append changed the sequence");
  EXPECT_STATUS(hgc_kv_append(cache, 99, 0, 1, keys[0], values[0]),
                HGC_UNKNOWN_SEQUENCE);
  EXPECT_STATUS(hgc_kv_add_sequence(cache, 7), HGC_INVALID_ARGUMENT);
  OK(hgc_kv_release_sequence(cache, 42));
  EXPECT_STATUS(hgc_decode(hybrid, cache, 0, 2, seqs, queries, outputs, NULL),
                HGC_UNKNOWN_SEQUENCE);
  options.target = (hgc_target)9;
  hgc_context *badContext;
  EXPECT_STATUS(hgc_context_create(&options, &badContext),
                HGC_INVALID_ARGUMENT);

  hgc_kernel_release(hybrid);
  hgc_kernel_release(full);
  hgc_kv_cache_release(cache);
  hgc_context_release(context);
  for (int s = 0; s < 2; ++s) {
    free(keys[s]);
    free(values[s]);
  }
  free(back);
  printf("jit C API: decode within %g of exact; every error path reported\n",
         worst);
  return 0;
}
