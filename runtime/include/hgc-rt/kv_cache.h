/*===- hgc-rt/kv_cache.h - the hgc KV runtime, C ABI ------------*- C -*-===*\
|*                                                                            *|
|* A multi-tier KV cache for long-context decoding. The runtime owns the      *|
|* memory of every tier (device, host, far memory, file-backed storage),      *|
|* keeps the hot set (attention sinks and the recent window) on the device,   *|
|* moves the rest down as the window slides and up on recall, and keeps       *|
|* per-page key summaries current. Every call returns a status;               *|
|* hgc_rt_last_error() holds the message of the calling thread's last         *|
|* failure. Nothing aborts.                                                   *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef HGC_RT_KV_CACHE_H
#define HGC_RT_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hgc_rt_status {
  HGC_RT_OK = 0,
  HGC_RT_INVALID_ARGUMENT = 1, /* null pointer, negative count, bad config */
  HGC_RT_SHAPE_MISMATCH = 2,   /* dtype / heads / head dim unlike the cache */
  HGC_RT_UNKNOWN_SEQUENCE = 3,
  HGC_RT_OUT_OF_RANGE = 4, /* layer, token or page index */
  HGC_RT_CAPACITY = 5,     /* every tier that may hold the data is full */
  HGC_RT_IO = 6,           /* storage tier file I/O */
  HGC_RT_DEVICE = 7,       /* device memory or copy failure */
} hgc_rt_status;

typedef enum hgc_rt_dtype {
  HGC_RT_F32 = 0,
  HGC_RT_F16 = 1,
  HGC_RT_BF16 = 2,
} hgc_rt_dtype;

/* Fastest first, as #hgc.placement orders them (its `cxl` is FAR). */
typedef enum hgc_rt_tier {
  HGC_RT_TIER_DEVICE = 0,
  HGC_RT_TIER_HOST = 1,
  HGC_RT_TIER_FAR = 2, /* far memory: CXL or another socket's NUMA node */
  HGC_RT_TIER_STORAGE = 3,
} hgc_rt_tier;
#define HGC_RT_TIERS 4

typedef struct hgc_rt_kv_config {
  int32_t layers;
  int32_t kv_heads;
  int32_t head_dim;
  hgc_rt_dtype dtype;
  int32_t page_tokens; /* tokens per page; a power of two */
  /* Placement: pages holding one of the first `sink` or last `window`
   * tokens of a sequence live on the device tier. */
  int64_t sink;
  int64_t window;
  /* Capacity per tier in pages (0 = unbounded). Data that does not fit
   * spills to the next tier. */
  int64_t device_pages;
  int64_t host_pages;
  /* Directory for the storage tier's file; NULL or "" disables the tier. */
  const char *storage_dir;
  /* Keep int8 copies of the keys with a scale per token and head. */
  int32_t quantize_keys;
  /* NUMA nodes for host pages, a Linux node list ("0", "0-3,6"): page
   * arenas interleave over them. NULL or "": every online node when there
   * are several, else the kernel's default. */
  const char *host_numa_nodes;
  /* Keep a channel-major copy of the keys and per-page sums of the values
   * (sparf's selection and mean value). */
  int32_t channel_keys;
  /* > 0: keep product-quantized keys (hca's codebook=pq<G>x<C>): per
   * sequence, layer and KV head, a codebook of pq_subspaces sub-spaces of
   * pq_centroids centroids fitted to the keys of the layer's first append
   * (its prefill), and every token's codes (hgc_rt_kv_pq_codes). */
  int32_t pq_subspaces;
  int32_t pq_centroids;
  /* > 0: a far-memory tier between host and storage of this many pages
   * (a full host spills there first). Its pages are read through copies
   * (views, reads), never in place. */
  int64_t far_pages;
  /* NUMA nodes of far memory (e.g. a CXL expander's CPU-less node, "2");
   * NULL or "": ordinary host memory, an emulation. */
  const char *far_numa_nodes;
  /* > 0: reads of far pages (views, reads, attention) are paced to this
   * many GB/s, emulating a slower link on a machine without one. */
  double far_bandwidth_gbs;
  /* Nonzero: every device page keeps a host copy (a slot of the host tier),
   * written with it, so a device that fails or is lost loses no KV: reads
   * come from the copy, a page leaving the device adopts it (no copy back),
   * and a device write that fails turns the layer's device pages into
   * their host copies. Costs a host slot per device page. Also set by the
   * environment: HGC_RT_DEVICE_MIRROR=1. */
  int32_t device_mirror;
} hgc_rt_kv_config;

/* One block of tokens of one sequence and layer, laid out
 * [kv_heads][tokens][head_dim] for keys and for values. */
typedef struct hgc_rt_kv_block {
  hgc_rt_dtype dtype;
  int32_t kv_heads;
  int32_t head_dim;
  int64_t tokens;
  const void *keys;
  const void *values;
} hgc_rt_kv_block;

typedef struct hgc_rt_kv_stats {
  int64_t pages[HGC_RT_TIERS]; /* pages resident per tier */
  int64_t tokens;              /* tokens across all sequences and layers */
  int64_t moved_pages;         /* pages moved between tiers so far */
  double metadata_bytes_per_token;
  int32_t device_is_cuda;    /* 0: the device tier is host-emulated */
  int32_t host_is_pinned;    /* 1: host pages are registered with CUDA */
  int32_t host_numa_nodes;   /* nodes host pages interleave over; 0: default */
  int32_t far_is_emulated;   /* 1: the far tier is host memory, paced or not */
  int32_t device_mirror;     /* 1: device pages keep host copies */
  int64_t mirrored_pages;    /* device pages with a host copy now (each
                                copy holds a host slot besides pages[host]) */
  int64_t failed_over_pages; /* device pages turned into their host copies
                                after a device failure, so far */
} hgc_rt_kv_stats;

typedef struct hgc_rt_kv_cache hgc_rt_kv_cache;

hgc_rt_status hgc_rt_kv_create(const hgc_rt_kv_config *config,
                               hgc_rt_kv_cache **cache);
void hgc_rt_kv_destroy(hgc_rt_kv_cache *cache);

hgc_rt_status hgc_rt_kv_add_sequence(hgc_rt_kv_cache *cache, int64_t seq);
hgc_rt_status hgc_rt_kv_release_sequence(hgc_rt_kv_cache *cache, int64_t seq);

/* Appends tokens; all or nothing (a failure leaves the sequence unchanged).
 * Pages that leave the window move down a tier. */
hgc_rt_status hgc_rt_kv_append(hgc_rt_kv_cache *cache, int64_t seq,
                               int32_t layer, const hgc_rt_kv_block *block);

/* Copies tokens [first, first + count) back, from whatever tier holds them,
 * into keys/values laid out [kv_heads][count][head_dim]. */
hgc_rt_status hgc_rt_kv_read(hgc_rt_kv_cache *cache, int64_t seq, int32_t layer,
                             int64_t first, int64_t count, void *keys,
                             void *values);

hgc_rt_status hgc_rt_kv_length(hgc_rt_kv_cache *cache, int64_t seq,
                               int32_t layer, int64_t *tokens);
hgc_rt_status hgc_rt_kv_page_tier(hgc_rt_kv_cache *cache, int64_t seq,
                                  int32_t layer, int64_t page,
                                  hgc_rt_tier *tier);

/* Per-channel key minimum and maximum of one page and KV head (Quest-style
 * block summaries), head_dim floats each. */
hgc_rt_status hgc_rt_kv_page_summary(hgc_rt_kv_cache *cache, int64_t seq,
                                     int32_t layer, int64_t page, int32_t head,
                                     float *key_min, float *key_max);

/* int8 key codes [page_tokens][head_dim] and scales [page_tokens] of one
 * page and head (the cache must quantize keys). */
hgc_rt_status hgc_rt_kv_page_quantized(hgc_rt_kv_cache *cache, int64_t seq,
                                       int32_t layer, int64_t page,
                                       int32_t head, int8_t *codes,
                                       float *scales);

/* Quantizes `tokens` keys of `head_dim` elements of `dtype` exactly as a
 * cache with quantize_keys does on append: per token, symmetric int8 codes
 * (the largest magnitude maps to 127, round half to even) into
 * codes[tokens][head_dim] and their scale into scales[tokens]. For engines
 * and tools that keep the same codes outside a cache. */
hgc_rt_status hgc_rt_quantize_keys(hgc_rt_dtype dtype, int32_t head_dim,
                                   int64_t tokens, const void *keys,
                                   int8_t *codes, float *scales);

/* Product quantization of keys (HCAttention's PQ): head_dim splits into
 * `subspaces` equal sub-vectors, each coded as its nearest of `centroids`
 * (a power of two in [2, 65536]) centroids. hgc_rt_pq_fit fits the codebook
 * [subspaces][centroids][head_dim / subspaces] (f32) to `tokens` keys [tokens]
 * [head_dim] (the prefill's) by k-means: `iterations` Lloyd steps from
 * distinct keys drawn with `seed` (deterministic). hgc_rt_pq_encode writes
 * each key's codes [tokens][subspaces]: uint8 for centroids <= 256, else
 * uint16. */
hgc_rt_status hgc_rt_pq_fit(hgc_rt_dtype dtype, int32_t head_dim,
                            int64_t tokens, const void *keys, int32_t subspaces,
                            int32_t centroids, int32_t iterations,
                            uint64_t seed, float *codebook);
hgc_rt_status hgc_rt_pq_encode(hgc_rt_dtype dtype, int32_t head_dim,
                               int64_t tokens, const void *keys,
                               int32_t subspaces, int32_t centroids,
                               const float *codebook, void *codes);

/* The product-quantized keys of (seq, layer), kept on append by a cache with
 * pq_subspaces: codebooks [kv_heads][pq_subspaces][pq_centroids][head_dim /
 * pq_subspaces] f32, fitted per KV head to the keys of the layer's first
 * append (hgc_rt_pq_fit, 4 iterations, seed 0), and every token's codes
 * (hgc_rt_pq_encode) in token order, [kv_heads][*capacity][pq_subspaces],
 * uint8 up to 256 centroids, else uint16. Valid until the sequence is next
 * appended to or released. */
hgc_rt_status hgc_rt_kv_pq_codes(hgc_rt_kv_cache *cache, int64_t seq,
                                 int32_t layer, const void **codes,
                                 const float **codebooks, int64_t *capacity);

/* Starts moving a page up to the device tier (periodic recall); *ticket
 * identifies the copy for hgc_rt_kv_wait. */
hgc_rt_status hgc_rt_kv_recall(hgc_rt_kv_cache *cache, int64_t seq,
                               int32_t layer, int64_t page, uint64_t *ticket);
/* Ends a recall or an eviction: the page goes where placement puts it (the
 * device for a page of sinks or window, else the host). A recalled page
 * goes down (spilling further when the tier is full); an evicted one comes
 * up only into room, else it stays where it is. Waits for nothing: wait for
 * the page's recall first. */
hgc_rt_status hgc_rt_kv_settle(hgc_rt_kv_cache *cache, int64_t seq,
                               int32_t layer, int64_t page);
/* Moves a cold page to the storage tier (HCAttention's eviction), ending its
 * recall: never dropped, read through copies, brought back by
 * hgc_rt_kv_settle. HGC_RT_INVALID_ARGUMENT without a storage tier,
 * HGC_RT_OUT_OF_RANGE for a page holding sinks or window tokens. */
hgc_rt_status hgc_rt_kv_evict(hgc_rt_kv_cache *cache, int64_t seq,
                              int32_t layer, int64_t page);
/* HybridGen's semantic mapping. Adds a step's attention mass per page of
 * (seq, layer): masses[p] for pages [0, pages) (e.g. the softmax mass of
 * the page's tokens summed over query heads; pages past `pages` get 0),
 * each page's kept mass first multiplied by `decay` in [0, 1]. The mass
 * travels with the page. */
hgc_rt_status hgc_rt_kv_add_page_mass(hgc_rt_kv_cache *cache, int64_t seq,
                                      int32_t layer, const float *masses,
                                      int64_t pages, float decay);
/* The kept mass of one page. */
hgc_rt_status hgc_rt_kv_page_mass(hgc_rt_kv_cache *cache, int64_t seq,
                                  int32_t layer, int64_t page, double *mass);
/* Starts placing the cold pages of (seq, layer) by their kept mass, on the
 * copy engine: while the hottest cold page of a slower tier (far, storage)
 * holds more than (1 + margin) times the mass of the coldest cold page of
 * a faster one (host, far), and more by margin times the cold pages' mean
 * mass (pages next to nothing do not churn), the two trade slots, each copied
 * bit-exactly; no tier ends with more pages. Sinks, window and recalled pages
 * stay. *ticket identifies the work for hgc_rt_kv_wait. */
hgc_rt_status hgc_rt_kv_remap(hgc_rt_kv_cache *cache, int64_t seq,
                              int32_t layer, float margin, uint64_t *ticket);
/* Blocks until the copy finished and returns its status. */
hgc_rt_status hgc_rt_kv_wait(hgc_rt_kv_cache *cache, uint64_t ticket);

/* The view an hgc.kv_view hands compiled code: for a batch of sequences, the
 * tokens of `layer` resident on `tier`, in token order, as padded keys and
 * values [batch][kv_heads][capacity][head_dim] with each sequence's count in
 * lengths[batch] (i32). hgc_rt_kv_view_tokens gives the capacity needed (the
 * largest count in the batch); a smaller capacity is HGC_RT_OUT_OF_RANGE.
 * Padding past a sequence's length is zero. */
hgc_rt_status hgc_rt_kv_view_tokens(hgc_rt_kv_cache *cache, const int64_t *seqs,
                                    int32_t batch, int32_t layer,
                                    hgc_rt_tier tier, int64_t *max_tokens);
hgc_rt_status hgc_rt_kv_view(hgc_rt_kv_cache *cache, const int64_t *seqs,
                             int32_t batch, int32_t layer, hgc_rt_tier tier,
                             int64_t capacity, void *keys, void *values,
                             int32_t *lengths);

/* Pages read in place. The cache's host-addressable pages (the host tier
 * and a host-emulated device tier) share one address range: slot `id` is at
 * base + id * slot_bytes, its keys [kv_heads][page_tokens][head_dim] then
 * its values, in the cache's dtype. */
typedef struct hgc_rt_kv_slots {
  void *base;
  int64_t slot_bytes;
  int64_t slots;
} hgc_rt_kv_slots;
hgc_rt_status hgc_rt_kv_get_slots(hgc_rt_kv_cache *cache,
                                  hgc_rt_kv_slots *slots);

/* The slot ids of the pages of (seq, layer) in token order into
 * ids[capacity]; *pages and *tokens their count and the tokens they hold.
 * A page outside the slot space (on the storage tier or in CUDA memory) is
 * HGC_RT_OUT_OF_RANGE naming it; so is a capacity below the page count
 * (then *pages is what is needed). Ids stay valid until the sequence is
 * next appended to or released: decode a sequence between its appends. */
hgc_rt_status hgc_rt_kv_page_table(hgc_rt_kv_cache *cache, int64_t seq,
                                   int32_t layer, int32_t *ids,
                                   int64_t capacity, int64_t *pages,
                                   int64_t *tokens);

/* The key summaries of (seq, layer), one per page, kept on append in the
 * cache's dtype: key_min and key_max [kv_heads][*capacity][head_dim], page
 * p of head h at (h * *capacity + p) * head_dim. Valid (and *capacity
 * fixed) until the sequence is next appended to or released. */
hgc_rt_status hgc_rt_kv_summaries(hgc_rt_kv_cache *cache, int64_t seq,
                                  int32_t layer, const void **key_min,
                                  const void **key_max, int64_t *capacity);

/* The int8 key codes of (seq, layer) in token order, kept on append by a
 * cache with quantize_keys: codes [kv_heads][*capacity][head_dim] (token t of
 * head h at (h * *capacity + t) * head_dim) and scales [kv_heads][*capacity].
 * Valid (and *capacity fixed) until the sequence is next appended to or
 * released; what compiled quant_topk selection reads in place. */
hgc_rt_status hgc_rt_kv_codes(hgc_rt_kv_cache *cache, int64_t seq,
                              int32_t layer, const int8_t **codes,
                              const float **scales, int64_t *capacity);

/* The channel-major keys and per-page value sums of (seq, layer), kept on
 * append by a cache with channel_keys: keys [kv_heads][head_dim][*capacity]
 * in the cache's dtype (channel d of token t of head h at
 * (h * head_dim + d) * *capacity + t) and f32 value sums
 * [kv_heads][*page_capacity][head_dim] over pages of page_tokens tokens
 * (page p of head h at (h * *page_capacity + p) * head_dim). Valid (and the
 * capacities fixed) until the sequence is next appended to or released;
 * what compiled channel_topk selection and its mean value read in place. */
hgc_rt_status hgc_rt_kv_channel_keys(hgc_rt_kv_cache *cache, int64_t seq,
                                     int32_t layer, const void **keys,
                                     const float **value_sums,
                                     int64_t *capacity, int64_t *page_capacity);

/* Partial attention of one query token over the tokens of (seq, layer) that
 * live on `tier`, computed where they live (the storage tier reads its mapped
 * file pages in place, InstInfer-style): query [q_heads][head_dim] f32 with
 * q_heads a multiple of kv_heads, output [q_heads][head_dim] f32 and the
 * natural-log LSE [q_heads]. A tier holding none of the tokens gives output 0
 * and LSE -inf, so the partials of all tiers merge exactly by log-sum-exp.
 * Pages in CUDA memory are attended by the compiled device kernels instead
 * (HGC_RT_DEVICE). */
hgc_rt_status hgc_rt_kv_attend(hgc_rt_kv_cache *cache, int64_t seq,
                               int32_t layer, hgc_rt_tier tier, int32_t q_heads,
                               const float *query, float scale, float *output,
                               float *lse);

/* The configuration the cache was created with; storage_dir and
 * host_numa_nodes come back NULL. */
hgc_rt_status hgc_rt_kv_get_config(hgc_rt_kv_cache *cache,
                                   hgc_rt_kv_config *config);

hgc_rt_status hgc_rt_kv_get_stats(hgc_rt_kv_cache *cache,
                                  hgc_rt_kv_stats *stats);

/* The calling thread's last error message ("" after success). */
const char *hgc_rt_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* HGC_RT_KV_CACHE_H */
