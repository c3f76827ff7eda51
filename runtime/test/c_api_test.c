/* The runtime's C ABI used from C: create, append, read back, errors; a
 * head stream step; an injected fault. */
#include "hgc-rt/faults.h"
#include "hgc-rt/head_stream.h"
#include "hgc-rt/kv_cache.h"

#include <stdio.h>
#include <string.h>

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: %s failed (%s)\n", __FILE__, __LINE__, #cond,    \
              hgc_rt_last_error());                                            \
      return 1;                                                                \
    }                                                                          \
  } while (0)

int main(void) {
  hgc_rt_kv_config config;
  memset(&config, 0, sizeof(config));
  config.layers = 1;
  config.kv_heads = 1;
  config.head_dim = 4;
  config.dtype = HGC_RT_F32;
  config.page_tokens = 2;
  config.window = 2;
  hgc_rt_kv_cache *cache = NULL;
  CHECK(hgc_rt_kv_create(&config, &cache) == HGC_RT_OK);
  CHECK(hgc_rt_kv_add_sequence(cache, 1) == HGC_RT_OK);
  float keys[12], values[12], back_k[12], back_v[12];
  for (int i = 0; i < 12; ++i) {
    keys[i] = 0.5f * (float)i - 2.0f;
    values[i] = 1.0f / (1.0f + (float)i);
  }
  hgc_rt_kv_block block = {HGC_RT_F32, 1, 4, 3, keys, values};
  CHECK(hgc_rt_kv_append(cache, 1, 0, &block) == HGC_RT_OK);
  CHECK(hgc_rt_kv_read(cache, 1, 0, 0, 3, back_k, back_v) == HGC_RT_OK);
  CHECK(memcmp(keys, back_k, sizeof(keys)) == 0);
  CHECK(memcmp(values, back_v, sizeof(values)) == 0);
  float lo[4], hi[4];
  CHECK(hgc_rt_kv_page_summary(cache, 1, 0, 0, 0, lo, hi) == HGC_RT_OK);
  CHECK(lo[0] == -2.0f && hi[0] == 0.0f);
  CHECK(hgc_rt_kv_append(cache, 2, 0, &block) == HGC_RT_UNKNOWN_SEQUENCE);
  CHECK(strcmp(hgc_rt_last_error(), "unknown sequence 2") == 0);
  /* Copies failing (the window's slide, then the append's own write) fail
   * the append and keep what was there. */
  CHECK(hgc_rt_fault_inject(HGC_RT_FAULT_COPY, 0, 100) == HGC_RT_OK);
  CHECK(hgc_rt_kv_append(cache, 1, 0, &block) == HGC_RT_IO);
  CHECK(hgc_rt_fault_count(HGC_RT_FAULT_COPY) >= 1);
  CHECK(hgc_rt_fault_inject((hgc_rt_fault)9, 0, 1) == HGC_RT_INVALID_ARGUMENT);
  CHECK(strcmp(hgc_rt_last_error(), "unknown fault 9") == 0);
  hgc_rt_fault_clear();
  CHECK(hgc_rt_kv_read(cache, 1, 0, 0, 3, back_k, back_v) == HGC_RT_OK);
  CHECK(memcmp(keys, back_k, sizeof(keys)) == 0);
  hgc_rt_kv_destroy(cache);

  /* A head stream of one streamed head: one token, attended exactly. */
  hgc_rt_head_stream_config streamed;
  memset(&streamed, 0, sizeof(streamed));
  streamed.kv = config;
  streamed.kv.window = 0;
  streamed.group_heads = 1;
  streamed.double_buffer = 1;
  hgc_rt_head_stream *stream = NULL;
  CHECK(hgc_rt_head_stream_create(&streamed, &stream) == HGC_RT_OK);
  CHECK(hgc_rt_head_stream_add_sequence(stream, 1) == HGC_RT_OK);
  block.tokens = 1;
  CHECK(hgc_rt_head_stream_append(stream, 1, 0, &block) == HGC_RT_OK);
  float query[4] = {1, 0, 0, 0}, output[4], lse;
  hgc_rt_head_step step;
  CHECK(hgc_rt_head_stream_attend(stream, 1, 0, 1, query, 1.0f, output, &lse,
                                  -1, &step) == HGC_RT_OK);
  CHECK(memcmp(output, values, sizeof(output)) == 0);
  CHECK(lse == keys[0] && step.streamed_groups == 1);
  hgc_rt_head_stream_destroy(stream);
  printf("c api: ok\n");
  return 0;
}
