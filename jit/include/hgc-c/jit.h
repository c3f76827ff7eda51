/*===- hgc-c/jit.h - the hgc JIT, C API ---------------------------*- C -*-===*\
|*                                                                            *|
|* What an inference engine links to use hgc at run time: describe one        *|
|* layer's attention, get a compiled hybrid decode kernel (cached in memory   *|
|* and on disk), hand KV to the runtime-owned multi-tier cache, and run       *|
|* batched decode steps. Every function returns an hgc_status; on failure     *|
|* hgc_last_error() holds a one-line message for the calling thread. Nothing  *|
|* aborts and no C++ exception crosses this boundary. All handles may be      *|
|* used from several threads at once.                                         *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef HGC_C_JIT_H
#define HGC_C_JIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HGC_JIT_API_VERSION 4

#if defined(__GNUC__)
#define HGC_API __attribute__((visibility("default")))
#else
#define HGC_API
#endif

typedef enum hgc_status {
  HGC_OK = 0,
  HGC_INVALID_ARGUMENT = 1, /* null pointer, bad configuration or option */
  HGC_SHAPE_MISMATCH = 2,   /* heads / head dim / dtype / placement unlike */
  HGC_UNKNOWN_SEQUENCE = 3,
  HGC_OUT_OF_RANGE = 4, /* layer index, empty sequence */
  HGC_CAPACITY = 5,     /* every KV tier that may hold the data is full */
  HGC_IO = 6,           /* cache directory or storage I/O */
  HGC_DEVICE = 7,       /* GPU missing or failing */
  HGC_COMPILE = 8,      /* the compiler rejected the configuration */
  HGC_INTERNAL = 9,
} hgc_status;

/* "HGC_OK", "HGC_SHAPE_MISMATCH", ... */
HGC_API const char *hgc_status_name(hgc_status status);
/* The calling thread's last error message ("" after success). */
HGC_API const char *hgc_last_error(void);

typedef enum hgc_dtype { HGC_F32 = 0, HGC_F16 = 1, HGC_BF16 = 2 } hgc_dtype;

/*===-- Context --------------------------------------------------------===*/

typedef enum hgc_target {
  HGC_TARGET_AUTO = 0, /* cuda when the runtime finds a GPU, else host */
  HGC_TARGET_HOST = 1, /* every tier on the CPU (OpenMP, vectorized) */
  HGC_TARGET_CUDA = 2, /* the device tier as NVPTX kernels */
} hgc_target;

typedef struct hgc_context_options {
  hgc_target target;
  const char *chip; /* NVPTX chip for cuda; NULL: "sm_80" */
  int32_t threads;  /* OpenMP threads per decode step; 0: libomp's */
  /* Compiled kernels are kept here as object files and reused by later
   * processes; NULL: $HGC_CACHE_DIR, else no disk cache. */
  const char *cache_dir;
} hgc_context_options;

typedef struct hgc_context hgc_context;

HGC_API void hgc_context_options_init(hgc_context_options *options);
HGC_API hgc_status hgc_context_create(const hgc_context_options *options,
                                      hgc_context **context);
/* Kernels and caches made from the context keep it alive. */
HGC_API void hgc_context_release(hgc_context *context);
/* "host" or "cuda": what HGC_TARGET_AUTO resolved to. */
HGC_API const char *hgc_context_target(const hgc_context *context);

/*===-- Attention configuration -----------------------------------------===*/

/* The placement vocabulary of `hgc compile/run/plan` and hgc-opt's
 * hgc-place-kv: same names, same defaults (hgc_attention_config_init). */
typedef struct hgc_placement {
  const char *policy; /* "full", "hgca" (exact top-k), "hca" (int8 key codes,
                         kept by softmax mass), "quest" (top blocks), "scout"
                         (quest's blocks; select them ahead with
                         hgc_select_ahead), "sparf" (top tokens on the
                         largest query channels) */
  int64_t sink;       /* attention-sink tokens on the device tier */
  int64_t window;     /* most recent tokens on the device tier */
  const char *budget; /* host tokens per KV head: "256" or a fraction "0.05" */
  int64_t block;      /* tokens per block of quest's selection */
  double tau;         /* softmax mass in (0, 1] hca keeps (the budget a cap) */
  const char *codebook;  /* how hca codes host keys: "int8" or "pq<G>x<C>";
                            NULL: "int8" */
  int64_t channels;      /* query channels sparf scores tokens on */
  int64_t host_capacity; /* cold tokens on the host tier; the rest on a
                            storage tier under the same policy (0: no limit) */
  const char *tail;      /* the host tokens a selection leaves out: "none"
                            (dropped), "summary" (estimated from per-block
                            moments) or "auto" (the policy's default); NULL:
                            "auto" */
  int64_t far_capacity;  /* cold tokens on a far-memory (cxl) tier after the
                            host's host_capacity, the rest on storage (0: no
                            far tier) */
} hgc_placement;

/* Another host-tier policy for some KV heads (Fluxion-style per-head
 * budgets; policy "full" attends a head's host tokens exactly, as HeadInfer
 * keeps chosen heads whole). Sinks and window are the cache's, for all
 * heads. */
typedef struct hgc_head_override {
  int32_t first_kv_head;
  int32_t kv_heads; /* heads [first_kv_head, first_kv_head + kv_heads) */
  const char *policy;
  const char *budget;
  int64_t block; /* 0: the placement's block */
  double tau;    /* 0: the placement's tau */
} hgc_head_override;

/* How engine-owned paged KV lays out a block (hgc_decode_paged). */
typedef enum hgc_kv_layout {
  HGC_KV_NHD = 0, /* [num_blocks][block_size][kv_heads][head_dim] (vLLM) */
  HGC_KV_HND = 1, /* [num_blocks][kv_heads][block_size][head_dim] */
} hgc_kv_layout;

typedef struct hgc_attention_config {
  int32_t q_heads;
  int32_t kv_heads; /* divides q_heads (grouped-query attention) */
  int32_t head_dim;
  hgc_dtype kv_dtype;
  float scale;    /* 0: 1/sqrt(head_dim) */
  int32_t causal; /* a decode query sees its whole sequence either way */
  float softcap;  /* > 0: scores become softcap * tanh(score / softcap) */
  hgc_placement placement;
  const hgc_head_override *overrides;
  int32_t num_overrides;
  /* > 0: the kernel decodes over engine-owned paged KV (hgc_decode_paged)
   * in blocks of this many tokens (a power of two) laid out as kv_layout;
   * 0 (default): over an hgc_kv_cache (hgc_decode). */
  int32_t kv_block_size;
  hgc_kv_layout kv_layout;
  /* With kv_block_size > 0: 1 when the engine keeps every sequence's
   * per-block key summaries (channel-wise key minimum and maximum over
   * blocks of placement.block tokens from token 0, updated as it appends)
   * and passes them in hgc_paged_kv; quest selection reads them instead of
   * every key. Default 0. */
  int32_t kv_summaries;
} hgc_attention_config;

/* MHA-free defaults: placement as the driver's defaults, scale 0, causal 1. */
HGC_API void hgc_attention_config_init(hgc_attention_config *config);

/*===-- Kernels ----------------------------------------------------------===*/

typedef struct hgc_kernel hgc_kernel;

typedef enum hgc_kernel_origin {
  HGC_KERNEL_COMPILED = 0, /* compiled by this call */
  HGC_KERNEL_MEMORY = 1,   /* this process had it */
  HGC_KERNEL_DISK = 2,     /* loaded from the cache directory */
} hgc_kernel_origin;

typedef struct hgc_kernel_info {
  hgc_kernel_origin origin;
  double seconds;     /* what hgc_compile took for it */
  const char *key;    /* the cache key (lives as long as the kernel) */
  const char *target; /* "host" or "cuda" */
} hgc_kernel_info;

/* The decode kernel of `config`, compiled once per configuration and
 * context target; concurrent calls for one configuration compile it once. */
HGC_API hgc_status hgc_compile(hgc_context *context,
                               const hgc_attention_config *config,
                               hgc_kernel **kernel);
HGC_API hgc_status hgc_kernel_get_info(const hgc_kernel *kernel,
                                       hgc_kernel_info *info);
HGC_API void hgc_kernel_release(hgc_kernel *kernel);

/*===-- KV cache ---------------------------------------------------------===*/

typedef struct hgc_kv_cache_options {
  int32_t layers;
  int32_t page_tokens;  /* tokens per page, a power of two; 0: 64 */
  int64_t device_pages; /* capacity per tier in pages; 0: unbounded */
  int64_t host_pages;
  const char *host_numa_nodes; /* Linux node list; NULL: every node */
  /* A directory for the storage tier's file, where pages the host tier has
   * no room for spill; NULL: no storage tier. Decodes read spilled pages
   * through copies, the others in place. */
  const char *storage_dir;
  /* ScoutAttention's periodic recall, for steps over selections made ahead
   * (hgc_decode_selected): every `recall_period` steps of a sequence's
   * layer, the `recall_blocks` cold pages whose attention mass accumulated
   * most are recalled to the device tier through the runtime's copy engine,
   * pages that fell out of that set go back down, and every step attends
   * the recalled pages whole beside its candidates. 0: no recall. */
  int32_t recall_period;
  int32_t recall_blocks;
  /* HCAttention's eviction, for steps over selections made ahead: a cold
   * page none of whose tokens a selection kept for `evict_after` steps of
   * its sequence's layer moves to the storage tier (storage_dir), and comes
   * back to the host when a selection keeps one of its tokens again; steps
   * read it through copies meanwhile. 0: no eviction. */
  int32_t evict_after;
  /* Fluxion's calibration, for kernels whose policy calibrates ("fluxion"):
   * a layer's per-KV-head budgets and granularity are chosen on its first
   * step from that step's queries, and again every `recalibrate_period`
   * steps of the layer (0: only then, and on hgc_calibrate). */
  int32_t recalibrate_period;
  /* A far-memory tier between host and storage (hgc_rt_kv_config): pages
   * a full host tier spills go there first; 0: none. Decodes read its pages
   * through copies, paced to far_bandwidth_gbs when > 0 (an emulated CXL
   * link); far_numa_nodes names real far memory (a CPU-less node). */
  int64_t far_pages;
  const char *far_numa_nodes;
  double far_bandwidth_gbs;
  /* Nonzero: every device page keeps a host copy (hgc_rt_kv_config's
   * device_mirror), so a lost or failing GPU loses no cached token. */
  int32_t device_mirror;
} hgc_kv_cache_options;

typedef struct hgc_kv_cache hgc_kv_cache;

HGC_API void hgc_kv_cache_options_init(hgc_kv_cache_options *options);
/* A cache for layers of attention `config` (heads, head dim, KV dtype, and
 * the placement's sinks and window, which decide the device tier). */
HGC_API hgc_status hgc_kv_cache_create(hgc_context *context,
                                       const hgc_attention_config *config,
                                       const hgc_kv_cache_options *options,
                                       hgc_kv_cache **cache);
HGC_API void hgc_kv_cache_release(hgc_kv_cache *cache);

HGC_API hgc_status hgc_kv_add_sequence(hgc_kv_cache *cache, int64_t seq);
HGC_API hgc_status hgc_kv_release_sequence(hgc_kv_cache *cache, int64_t seq);
/* Appends `tokens` tokens of keys and values, each laid out
 * [kv_heads][tokens][head_dim] in the cache's dtype; all or nothing. */
HGC_API hgc_status hgc_kv_append(hgc_kv_cache *cache, int64_t seq,
                                 int32_t layer, int64_t tokens,
                                 const void *keys, const void *values);
HGC_API hgc_status hgc_kv_length(hgc_kv_cache *cache, int64_t seq,
                                 int32_t layer, int64_t *tokens);
/* Tokens [first, first + count) back, bit-exact, laid out as appended. */
HGC_API hgc_status hgc_kv_read(hgc_kv_cache *cache, int64_t seq, int32_t layer,
                               int64_t first, int64_t count, void *keys,
                               void *values);

/* HybridGen's semantic mapping of cold pages (hgc_rt_kv_add_page_mass,
 * hgc_rt_kv_remap): report a step's attention mass per page of `layer` of
 * `seq` (each page's kept mass decayed by `decay` first), then place the
 * cold pages across host, far and storage by their kept mass; the remap
 * returns when its copies are done. Pages are `page_tokens` tokens each
 * from token 0. */
HGC_API hgc_status hgc_kv_add_page_mass(hgc_kv_cache *cache, int64_t seq,
                                        int32_t layer, const float *masses,
                                        int64_t pages, float decay);
HGC_API hgc_status hgc_kv_remap(hgc_kv_cache *cache, int64_t seq, int32_t layer,
                                float margin);
/* The tier page `page` of `layer` of `seq` is on: 0 device, 1 host, 2 far,
 * 3 storage (hgc_kv_cache_stats.pages' order). */
HGC_API hgc_status hgc_kv_page_tier(hgc_kv_cache *cache, int64_t seq,
                                    int32_t layer, int64_t page, int32_t *tier);

/* The pages of `layer` of `seq` recalled now (ascending page indices, each
 * of page_tokens tokens from token 0): up to `capacity` into `pages`, their
 * number into *count. */
HGC_API hgc_status hgc_kv_get_recalled(hgc_kv_cache *cache, int64_t seq,
                                       int32_t layer, int64_t *pages,
                                       int32_t capacity, int32_t *count);

/* What Fluxion's calibration chose for one KV head of a layer, and what it
 * measured on the head's scores. */
typedef struct hgc_head_budget {
  int64_t tokens;   /* host tokens the head attends (its share of the total) */
  double fraction;  /* that, of the mean host tokens at calibration */
  int64_t block;    /* 1: tokens; else blocks of that many tokens */
  double mass_kept; /* softmax mass those hold (mean over queries) */
  double entropy;   /* of the head's attention over its host tokens, nats */
} hgc_head_budget;

/* Calibrates layer `layer` of `cache` for `kernel` (a policy that
 * calibrates: "fluxion") from sequences seqs[batch] and their queries
 * [batch][q_heads][head_dim] f32: the layer's next steps decode with the
 * per-head budgets chosen. */
HGC_API hgc_status hgc_calibrate(hgc_kernel *kernel, hgc_kv_cache *cache,
                                 int32_t layer, int32_t batch,
                                 const int64_t *seqs, const float *queries);
/* The budgets `kernel` decodes `layer` of `cache` with, one per KV head
 * into budgets[capacity]; *count = 0 before a calibration. */
HGC_API hgc_status hgc_kv_get_calibration(hgc_kernel *kernel,
                                          hgc_kv_cache *cache, int32_t layer,
                                          hgc_head_budget *budgets,
                                          int32_t capacity, int32_t *count);

/* Bytes one step of a sequence of `length` tokens reads per tier ([0]
 * device, [1] host, [2] the slower tiers: far memory and storage) under
 * `kernel`'s placement, per-head budgets of `layer` of `cache` included when
 * its policy calibrates (cache may be NULL): the placement's model of what
 * its selections and partials read (what `hgc plan` prints), with what a
 * runtime cache keeps. */
HGC_API hgc_status hgc_kernel_step_bytes(hgc_kernel *kernel,
                                         hgc_kv_cache *cache, int32_t layer,
                                         int64_t length, double bytes[3]);

/* Pages resident per tier: [0] device, [1] host, [2] far, [3] storage. */
typedef struct hgc_kv_cache_stats {
  int64_t pages[4];
  int64_t tokens;
  int32_t device_is_cuda;
  int64_t mirrored_pages;    /* device pages with a host copy (device_mirror) */
  int64_t failed_over_pages; /* device pages turned into their host copies
                                after a device failure */
} hgc_kv_cache_stats;
HGC_API hgc_status hgc_kv_cache_get_stats(hgc_kv_cache *cache,
                                          hgc_kv_cache_stats *stats);

/*===-- Decode -----------------------------------------------------------===*/

/* What one decode step did, per tier ([0] device, [1] host). */
typedef struct hgc_step_stats {
  double seconds;               /* the whole step */
  double gather_seconds[2];     /* reading each tier's KV for the kernels */
  double compute_seconds;       /* the compiled kernels, all tiers */
  double device_kernel_seconds; /* GPU kernels alone (HGC_RT_GPU_TIMING=1) */
  int64_t tokens[2];            /* cached tokens attended from each tier */
  int64_t selected_tokens;      /* host tokens the selection kept */
  int64_t bytes_moved;          /* KV, queries and outputs copied */
  /* With periodic recall (hgc_decode_selected): tokens of recalled pages
   * attended, and how many of the selection's tokens were among them. */
  int64_t recalled_tokens;
  int64_t recall_hits;
  /* With eviction: pages the step moved to storage, and back. */
  int64_t evicted_pages;
  int64_t restored_pages;
} hgc_step_stats;

/* One decode step of `layer` for `batch` sequences `seqs`: queries and
 * outputs [batch][q_heads][head_dim] f32. Each query attends every cached
 * token of its sequence (append the step's KV first) as the kernel's
 * placement says. `stats` may be NULL. */
HGC_API hgc_status hgc_decode(hgc_kernel *kernel, hgc_kv_cache *cache,
                              int32_t layer, int32_t batch, const int64_t *seqs,
                              const float *queries, float *outputs,
                              hgc_step_stats *stats);

/*===-- Layer-ahead selection (ScoutAttention)
 * -----------------------------===*/

/* A later decode step's host-tier candidates, chosen ahead. */
typedef struct hgc_selection hgc_selection;

/* Runs the host tier's selection of `layer` for `batch` sequences `seqs`
 * of `cache` with `predicted_queries` [batch][q_heads][head_dim] f32 (as
 * ScoutAttention does: layer l+1's query computed from layer l's hidden
 * state) and returns its candidates for hgc_decode_selected, which attends
 * them with the real queries. Called on another thread while the previous
 * layer runs, the host's selection leaves the step's critical path. The
 * kernel's placement must have two tiers whose second selects without
 * estimating what it leaves out (hgca, hca with int8 codes, quest; no
 * overrides, no tail, no host_capacity). The step's KV may be appended
 * between the two calls: the host tier's start does not move, and the step
 * attends the host tokens that entered it since beside the candidates. */
HGC_API hgc_status hgc_select_ahead(hgc_kernel *kernel, hgc_kv_cache *cache,
                                    int32_t layer, int32_t batch,
                                    const int64_t *seqs,
                                    const float *predicted_queries,
                                    hgc_selection **selection);

/* One decode step of the selection's layer and sequences with the real
 * `queries`: the device tier as hgc_decode's, the host tier attending
 * exactly the selection's candidates. `kernel` and `cache` are the ones
 * that selected; a sequence shorter than it was at the selection is
 * HGC_INVALID_ARGUMENT. A selection may be decoded more than once. */
HGC_API hgc_status hgc_decode_selected(hgc_kernel *kernel, hgc_kv_cache *cache,
                                       const hgc_selection *selection,
                                       const float *queries, float *outputs,
                                       hgc_step_stats *stats);

typedef struct hgc_selection_info {
  int32_t batch;
  int32_t kv_heads;
  int64_t count; /* candidates per sequence and KV head */
  int32_t block; /* tokens per candidate: quest's block, else 1 */
  /* [batch][kv_heads][count]: indices into the host tier's tokens (in
   * blocks of `block`, from the first token past the sinks), -1 past a
   * row's valid ones; lives as long as the selection. */
  const int32_t *candidates;
} hgc_selection_info;

HGC_API hgc_status hgc_selection_get_info(const hgc_selection *selection,
                                          hgc_selection_info *info);
HGC_API void hgc_selection_release(hgc_selection *selection);

/* KV the engine owns, paged as vLLM and FlashInfer keep it: token t of
 * sequence s is slot t % block_size of block block_tables[s][t / block_size]
 * of k_cache and v_cache (num_blocks blocks in the kernel's kv_layout and
 * kv_dtype). The kernel's placement applies by position: the first `sink`
 * and last `window` tokens of each sequence are its device tier, the rest
 * its host tier. Nothing is copied but the device tier's few tokens. */
typedef struct hgc_paged_kv {
  const void *k_cache;
  const void *v_cache;
  int64_t num_blocks;
  const int32_t *block_tables; /* [batch][max_blocks] */
  int32_t max_blocks;
  const int32_t *seq_lens; /* [batch]: tokens of each sequence, >= 1 */
  /* With kv_summaries: [batch][kv_heads][max_summaries][head_dim] in the
   * kv dtype, block j of a sequence summarizing its tokens
   * [j * block, (j + 1) * block). NULL otherwise. */
  const void *key_min;
  const void *key_max;
  int32_t max_summaries;
} hgc_paged_kv;

/* One decode step over `kv` for `batch` sequences with a kernel compiled
 * for paged KV (kv_block_size > 0): queries and outputs [batch][q_heads]
 * [head_dim] f32. Block ids and lengths are checked first (a bad one is
 * HGC_OUT_OF_RANGE naming the sequence; outputs untouched). */
HGC_API hgc_status hgc_decode_paged(hgc_kernel *kernel, const hgc_paged_kv *kv,
                                    int32_t batch, const float *queries,
                                    float *outputs, hgc_step_stats *stats);

/*===-- Split scheduler (HybridGen-style feedback) -----------------------===*/

/* Balances a hybrid step's tiers: the engine reports each step's measured
 * device time and host time (selection, partial attention, transfers) and
 * gets the split of the next step: the window (the device's tokens) moves
 * towards the split where both finish together by a damped fraction of the
 * distance, in whole `quantum`s, and holds still within `tolerance`; at the
 * largest window host threads are added, at the smallest given back. */
typedef struct hgc_scheduler_options {
  int64_t context;    /* tokens per sequence the split covers */
  int64_t window;     /* the first step's device tokens */
  int64_t min_window; /* at least (the sinks, the recent tokens) */
  int64_t max_window; /* the device tier's room, < context */
  int64_t quantum;    /* 0: 64 (a page) */
  int32_t threads;    /* the first step's host threads; 0: 1 */
  int32_t min_threads, max_threads; /* 0: threads */
  double smoothing; /* weight of a new measurement in (0, 1]; 0: 0.5 */
  double gain;      /* fraction of the distance moved in (0, 1]; 0: 0.5 */
  double tolerance; /* balanced within this fraction; 0: 0.05 */
} hgc_scheduler_options;

typedef struct hgc_tier_times {
  double device_seconds;
  double host_seconds;     /* selection and partial attention */
  double transfer_seconds; /* queries out and partials back */
} hgc_tier_times;

typedef struct hgc_split {
  int64_t window;
  int32_t threads;
  int32_t moved;    /* 1: the last observation changed the split */
  double imbalance; /* (host - device) / slower, of the last step */
  int64_t steps;    /* observations so far */
} hgc_split;

typedef struct hgc_scheduler hgc_scheduler;

HGC_API hgc_status hgc_scheduler_create(const hgc_scheduler_options *options,
                                        hgc_scheduler **scheduler);
HGC_API void hgc_scheduler_release(hgc_scheduler *scheduler);
/* One step's times in, the next step's split out (`next` may be NULL). */
HGC_API hgc_status hgc_scheduler_observe(hgc_scheduler *scheduler,
                                         const hgc_tier_times *times,
                                         hgc_split *next);
HGC_API hgc_status hgc_scheduler_get_split(const hgc_scheduler *scheduler,
                                           hgc_split *split);

#ifdef __cplusplus
}
#endif

#endif /* HGC_C_JIT_H */
