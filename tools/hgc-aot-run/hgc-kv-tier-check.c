/*===- hgc-kv-tier-check.c - the KV runtime's tiers, bit-exact -----------===*\
|*                                                                            *|
|* Appends random tokens one block at a time to a cache whose device tier is  *|
|* CUDA memory where a GPU is (host-emulated otherwise), so pages slide from  *|
|* the window down to the host and are recalled back up; after every append   *|
|* and recall every token reads back bit-exactly. Prints one JSON line; exit  *|
|* 0 only when nothing was lost. Part of the GPU bundle.                      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "hgc-rt/kv_cache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { HEADS = 4, DIM = 64, PAGE = 16, STEPS = 96, MAX_BLOCK = 40 };

static uint32_t state = 12345u;
static uint16_t next_bits(void) {
  state = state * 1664525u + 1013904223u;
  return (uint16_t)(state >> 16);
}

static int fail(const char *what) {
  printf("{\"ok\": false, \"error\": \"%s: %s\"}\n", what, hgc_rt_last_error());
  return 1;
}

int main(void) {
  hgc_rt_kv_config config;
  memset(&config, 0, sizeof(config));
  config.layers = 1;
  config.kv_heads = HEADS;
  config.head_dim = DIM;
  config.dtype = HGC_RT_F16;
  config.page_tokens = PAGE;
  config.sink = 4;
  config.window = 48;
  hgc_rt_kv_cache *cache = NULL;
  if (hgc_rt_kv_create(&config, &cache) != HGC_RT_OK)
    return fail("create");
  if (hgc_rt_kv_add_sequence(cache, 7) != HGC_RT_OK)
    return fail("add sequence");
  size_t row = DIM * sizeof(uint16_t);
  size_t capacity = (size_t)STEPS * MAX_BLOCK;
  /* shadow[h] = every appended key (then value) of head h, in order. */
  uint16_t *keys = calloc(HEADS * capacity * DIM, sizeof(uint16_t));
  uint16_t *values = calloc(HEADS * capacity * DIM, sizeof(uint16_t));
  uint16_t *block_k = malloc(HEADS * MAX_BLOCK * row);
  uint16_t *block_v = malloc(HEADS * MAX_BLOCK * row);
  uint16_t *back_k = malloc(HEADS * capacity * row);
  uint16_t *back_v = malloc(HEADS * capacity * row);
  int64_t tokens = 0, recalls = 0;
  for (int step = 0; step < STEPS; ++step) {
    int64_t n = 1 + next_bits() % MAX_BLOCK;
    for (int64_t i = 0; i < HEADS * n * DIM; ++i) {
      /* Finite f16 values: exponent below 31. */
      block_k[i] = next_bits() & 0x7bff;
      block_v[i] = next_bits() & 0x7bff;
    }
    hgc_rt_kv_block block = {HGC_RT_F16, HEADS, DIM, n, block_k, block_v};
    if (hgc_rt_kv_append(cache, 7, 0, &block) != HGC_RT_OK)
      return fail("append");
    for (int h = 0; h < HEADS; ++h) {
      memcpy(keys + (h * capacity + tokens) * DIM, block_k + h * n * DIM,
             n * row);
      memcpy(values + (h * capacity + tokens) * DIM, block_v + h * n * DIM,
             n * row);
    }
    tokens += n;
    if (step % 8 == 7) { /* periodic recall of a cold page */
      uint64_t ticket = 0;
      int64_t page = (int64_t)(next_bits() % ((tokens + PAGE - 1) / PAGE));
      if (hgc_rt_kv_recall(cache, 7, 0, page, &ticket) != HGC_RT_OK ||
          hgc_rt_kv_wait(cache, ticket) != HGC_RT_OK)
        return fail("recall");
      ++recalls;
    }
    if (hgc_rt_kv_read(cache, 7, 0, 0, tokens, back_k, back_v) != HGC_RT_OK)
      return fail("read");
    for (int h = 0; h < HEADS; ++h)
      if (memcmp(back_k + h * tokens * DIM, keys + h * capacity * DIM,
                 tokens * row) ||
          memcmp(back_v + h * tokens * DIM, values + h * capacity * DIM,
                 tokens * row)) {
        printf("{\"ok\": false, \"error\": \"step %d: head %d reads back "
               "different bytes\"}\n",
               step, h);
        return 1;
      }
  }
  hgc_rt_kv_stats stats;
  if (hgc_rt_kv_get_stats(cache, &stats) != HGC_RT_OK)
    return fail("stats");
  printf("{\"ok\": true, \"device_is_cuda\": %d, \"tokens\": %lld, "
         "\"pages\": [%lld, %lld, %lld], \"moved_pages\": %lld, "
         "\"recalls\": %lld}\n",
         stats.device_is_cuda, (long long)tokens, (long long)stats.pages[0],
         (long long)stats.pages[1], (long long)stats.pages[2],
         (long long)stats.moved_pages, (long long)recalls);
  hgc_rt_kv_destroy(cache);
  free(keys);
  free(values);
  free(block_k);
  free(block_v);
  free(back_k);
  free(back_v);
  return 0;
}
