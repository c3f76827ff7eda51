/*===- hgc-rt/compiled.h - runtime entry points of compiled code -*- C -*-===*\
|*                                                                            *|
|* What a program compiled over `hgc.runtime_kv` calls to read a tier of a    *|
|* runtime-owned cache. Compiled code holds pointers and handles as 64-bit    *|
|* integers and cannot branch on a status, so these calls never return one:   *|
|* the calling thread's first failure is kept (and the outputs made empty but *|
|* valid) until the caller of the compiled code takes it. Each call also      *|
|* counts what it read per tier, for per-step statistics.                     *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef HGC_RT_COMPILED_H
#define HGC_RT_COMPILED_H

#include "hgc-rt/kv_cache.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The `tier` of a view of every token of each sequence, whatever tier holds
 * it (what a single-tier placement attends). */
#define HGC_RT_COMPILED_ALL_TIERS (-1)

/* hgc_rt_kv_view_tokens for compiled code: the capacity a view of `tier`
 * needs for `batch` sequences `seqs` (an int64 array) of `layer`; 0 after a
 * failure. */
int64_t hgc_rt_compiled_view_tokens(hgc_rt_kv_cache *cache, const int64_t *seqs,
                                    int64_t batch, int32_t layer, int32_t tier);

/* hgc_rt_kv_view for compiled code. After a failure every length is 0. */
void hgc_rt_compiled_view(hgc_rt_kv_cache *cache, const int64_t *seqs,
                          int64_t batch, int32_t layer, int32_t tier,
                          int64_t capacity, void *keys, void *values,
                          int32_t *lengths);

/* What this thread's views read since the last reset, per tier (views of
 * all tiers count as the device tier's, where such a program attends). */
typedef struct hgc_rt_compiled_stats {
  /* Per tier (hgc_rt_tier: device, host, far, storage). */
  int64_t tokens[HGC_RT_TIERS]; /* tokens handed to compiled code */
  int64_t bytes[HGC_RT_TIERS];  /* key and value bytes copied out of it */
  double seconds[HGC_RT_TIERS]; /* time spent gathering them */
  /* Tokens hgc.select kept (programs lowered with count-selected), summed
   * over sequences and KV heads; a kept block counts its block size. */
  int64_t selected_tokens;
} hgc_rt_compiled_stats;

/* What a program lowered with count-selected calls after each selection,
 * on the thread that runs it: adds to this thread's selected_tokens. */
void hgc_rt_compiled_count_selected(int64_t tokens);

/* A size the compiled code assumed (two run-time dims of one symbol, an
 * element count a reshape keeps): returns when `actual` equals `expected`;
 * otherwise keeps "`what` (actual vs expected at run time)" as this thread's
 * failure and ends the program that hgc_rt_compiled_call runs, before it
 * reads out of bounds. Buffers the program allocated until then leak. */
void hgc_rt_compiled_check_size(int64_t actual, int64_t expected,
                                const char *what);

/* Runs compiled `entry` on its packed arguments: 0 when it returned, 1 when
 * a size check ended it (the message from hgc_rt_compiled_take_error). */
int hgc_rt_compiled_call(void (*entry)(void **), void **arguments);

/* Clears this thread's kept failure and statistics. */
void hgc_rt_compiled_reset(void);
/* This thread's first failure since the reset, or NULL; clears it. */
const char *hgc_rt_compiled_take_error(void);
void hgc_rt_compiled_get_stats(hgc_rt_compiled_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* HGC_RT_COMPILED_H */
