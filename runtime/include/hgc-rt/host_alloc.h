/*===- hgc-rt/host_alloc.h - the buffers of compiled host code ----*- C -*-===*\
|*                                                                            *|
|* Compiled code allocates through MLIR's generic functions                   *|
|* (_mlir_memref_to_llvm_alloc / _aligned_alloc / _free), which this runtime  *|
|* defines. Large blocks (1 MiB and up) are kept on free, by size class, and  *|
|* handed out again: a decode loop re-allocates the same present-KV-sized    *|
|* buffers every step, and fresh pages from the kernel (faulted in and        *|
|* zeroed) would cost more than the copy into them. Results a compiled       *|
|* function returns are released with hgc_rt_host_free.                       *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef HGC_RT_HOST_ALLOC_H
#define HGC_RT_HOST_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void *_mlir_memref_to_llvm_alloc(size_t size);
void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size);
void _mlir_memref_to_llvm_free(void *pointer);

/* Releases a buffer compiled code allocated (NULL is ignored). */
void hgc_rt_host_free(void *pointer);

typedef struct hgc_rt_host_alloc_stats {
  uint64_t cached_bytes;  /* blocks kept for reuse now */
  uint64_t reused_blocks; /* large allocations served from the cache */
  uint64_t fresh_blocks;  /* large allocations served by the system */
} hgc_rt_host_alloc_stats;

void hgc_rt_host_alloc_get_stats(hgc_rt_host_alloc_stats *stats);
/* Returns every cached block to the system. */
void hgc_rt_host_alloc_trim(void);

#ifdef __cplusplus
}
#endif

#endif /* HGC_RT_HOST_ALLOC_H */
