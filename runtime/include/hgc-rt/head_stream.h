/*===- hgc-rt/head_stream.h - head-wise KV residency, C ABI -----*- C -*-===*\
|*                                                                            *|
|* HeadInfer's head-wise residency: chosen KV heads live entirely on the      *|
|* device tier; the others live on the host (far memory, storage as they      *|
|* fill), apart from their sinks and recent window, and are streamed to the   *|
|* device one head group at a time for every layer's step, double-buffered:   *|
|* the next group is copied while this one is attended. Attention is exact.   *|
|* Pages are per head group: each group is a KV cache of its own whose pages  *|
|* carry only its heads. Statuses and hgc_rt_last_error() as in kv_cache.h.   *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef HGC_RT_HEAD_STREAM_H
#define HGC_RT_HEAD_STREAM_H

#include "hgc-rt/kv_cache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hgc_rt_head_stream_config {
  /* The whole cache: layers, all kv_heads, head_dim, dtype, page_tokens;
   * sink and window are the hot set of the streamed heads (0 and 0: every
   * token of a streamed head is streamed, as HeadInfer). The capacities
   * and storage_dir apply to each head group's cache. */
  hgc_rt_kv_config kv;
  /* KV heads kept entirely on the device (distinct, in [0, kv_heads)). */
  const int32_t *resident_heads;
  int32_t resident_count;
  /* KV heads per streamed group, the unit of a page and of a copy; divides
   * the number of streamed heads. */
  int32_t group_heads;
  /* 1: copy the next group while this one is attended, and the first group
   * of the next layer while this layer's last one is (HeadInfer's double
   * buffering, Fluxion's overlap); 0: copy, then attend, group by group. */
  int32_t double_buffer;
  /* > 0: staging copies paced to this many GB/s, an emulated PCIe link on
   * a machine whose device tier is host memory. */
  double link_bandwidth_gbs;
} hgc_rt_head_stream_config;

/* What one step (hgc_rt_head_stream_attend) did. */
typedef struct hgc_rt_head_step {
  double seconds;         /* the whole call */
  double copy_seconds;    /* staging copies on the copy engine, summed */
  double compute_seconds; /* attention, device tier and staged groups */
  double stall_seconds;   /* attention waiting for a copy: transfer time the
                             overlap did not hide */
  int64_t streamed_bytes; /* keys and values copied into staging */
  int32_t streamed_groups;
  int32_t prefetched; /* 1: the first group was staged by the previous call */
} hgc_rt_head_step;

typedef struct hgc_rt_head_stream hgc_rt_head_stream;

hgc_rt_status hgc_rt_head_stream_create(const hgc_rt_head_stream_config *config,
                                        hgc_rt_head_stream **stream);
void hgc_rt_head_stream_destroy(hgc_rt_head_stream *stream);

hgc_rt_status hgc_rt_head_stream_add_sequence(hgc_rt_head_stream *stream,
                                              int64_t seq);
hgc_rt_status hgc_rt_head_stream_release_sequence(hgc_rt_head_stream *stream,
                                                  int64_t seq);
/* Appends a block of all kv_heads ([kv_heads][tokens][head_dim]); each head
 * group's cache takes its heads' rows. All or nothing. */
hgc_rt_status hgc_rt_head_stream_append(hgc_rt_head_stream *stream, int64_t seq,
                                        int32_t layer,
                                        const hgc_rt_kv_block *block);
/* Tokens [first, first + count) of every head back, bit-exact, laid out
 * [kv_heads][count][head_dim]. */
hgc_rt_status hgc_rt_head_stream_read(hgc_rt_head_stream *stream, int64_t seq,
                                      int32_t layer, int64_t first,
                                      int64_t count, void *keys, void *values);

/* One decode step's attention of `seq` at `layer` over every cached token:
 * query [q_heads][head_dim] f32 (q_heads a multiple of kv_heads), output
 * [q_heads][head_dim] and the natural-log LSE [q_heads]. The device-resident
 * part of every group is attended in place and each group's other tokens
 * from its staged copy, merged exactly by log-sum-exp. The streamed groups'
 * copies are issued before the resident heads are attended (the critical
 * path first). With next_layer >= 0 and double buffering, the first group
 * of (seq, next_layer) is staged in the background meanwhile, and the next
 * call for it uses that copy unless an append since changed what that group
 * holds off the device (an append into the window does not: a decode loop
 * appends each layer's token before attending it). Calls on one stream run
 * one at a time. `step` may be NULL. */
hgc_rt_status hgc_rt_head_stream_attend(hgc_rt_head_stream *stream, int64_t seq,
                                        int32_t layer, int32_t q_heads,
                                        const float *query, float scale,
                                        float *output, float *lse,
                                        int32_t next_layer,
                                        hgc_rt_head_step *step);

/* Head group `group` (0 .. groups - 1; the resident heads, when any, are
 * group 0): its KV heads into heads[capacity] (their number in *count),
 * whether it is resident, and its cache's statistics (pages per tier; each
 * page holds page_tokens tokens of this group's heads only). */
hgc_rt_status hgc_rt_head_stream_group(hgc_rt_head_stream *stream,
                                       int32_t group, int32_t *heads,
                                       int32_t capacity, int32_t *count,
                                       int32_t *resident,
                                       hgc_rt_kv_stats *stats);
hgc_rt_status hgc_rt_head_stream_groups(hgc_rt_head_stream *stream,
                                        int32_t *groups);

#ifdef __cplusplus
}
#endif

#endif /* HGC_RT_HEAD_STREAM_H */
