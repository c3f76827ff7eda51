/*===- hgc-rt/faults.h - faults injected into the KV runtime -----*- C -*-===*\
|*                                                                            *|
|* For tests and soaks: make chosen runtime operations fail as the hardware   *|
|* or the OS would, to check that every operation then returns an error and   *|
|* leaves every token readable and bit-exact. The plan is process-wide and    *|
|* thread-safe; with none set (the default) nothing is ever injected.         *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef HGC_RT_FAULTS_H
#define HGC_RT_FAULTS_H

#include "hgc-rt/kv_cache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hgc_rt_fault {
  /* Reserving a storage slot's blocks in its file: ENOSPC (disk full). */
  HGC_RT_FAULT_STORAGE_NO_SPACE = 0,
  /* Reserving or mapping a storage slot: EIO. */
  HGC_RT_FAULT_STORAGE_IO = 1,
  /* The reservation stops partway (a short write), then ENOSPC. */
  HGC_RT_FAULT_STORAGE_SHORT = 2,
  /* Committing host or far-memory pages: out of memory. */
  HGC_RT_FAULT_HOST_MEMORY = 3,
  /* A copy into a page (an append's write, a move, a spill, a recall on
   * the copy engine, a mapping swap) fails after half its bytes. */
  HGC_RT_FAULT_COPY = 4,
} hgc_rt_fault;
#define HGC_RT_FAULTS 5

/* After `skip` more operations of kind `fault` succeed, the next `count`
 * fail (count 0: none). Replaces that kind's plan. */
hgc_rt_status hgc_rt_fault_inject(hgc_rt_fault fault, int64_t skip,
                                  int64_t count);
/* Each operation of kind `fault` fails with probability `rate` in [0, 1],
 * drawn from a generator seeded with `seed` (deterministic for one thread).
 * Replaces that kind's plan. */
hgc_rt_status hgc_rt_fault_inject_rate(hgc_rt_fault fault, double rate,
                                       uint64_t seed);
/* No faults of any kind from now on; the counts stay. */
void hgc_rt_fault_clear(void);
/* Faults of kind `fault` injected so far in this process. */
int64_t hgc_rt_fault_count(hgc_rt_fault fault);

#ifdef __cplusplus
}
#endif

#endif /* HGC_RT_FAULTS_H */
