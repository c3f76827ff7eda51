// Bad options fail before any IR is touched, naming the option; a placement
// that does not fit a cache is an error at the op.

// RUN: not hgc-opt %s -hgc-place-kv="policy=infinigen" 2>&1 | FileCheck %s --check-prefix=POLICY
// POLICY: error: hgc-place-kv: unknown placement policy 'infinigen', expected {{.*}}full, hca, hgca, quest, scout or sparf

// RUN: not hgc-opt %s -hgc-place-kv="policy=hgca tail=sample" 2>&1 | FileCheck %s --check-prefix=TAIL
// TAIL: error: hgc-place-kv: tail 'sample' is not auto, none or summary

// RUN: not hgc-opt %s -hgc-place-kv="policy=quest block=12" 2>&1 | FileCheck %s --check-prefix=BLOCK
// BLOCK: error: hgc-place-kv: block must be a positive power of two, got 12

// RUN: not hgc-opt %s -hgc-place-kv="policy=hgca budget=5%" 2>&1 | FileCheck %s --check-prefix=BUDGET
// BUDGET: error: hgc-place-kv: budget '5%' is neither a token count (256) nor a fraction (0.05)

// RUN: not hgc-opt %s -hgc-place-kv="policy=hgca budget=1.5" 2>&1 | FileCheck %s --check-prefix=FRACTION
// FRACTION: error: hgc-place-kv: budget must be a token count or a fraction in (0, 1], got '1.5'

// RUN: not hgc-opt %s -hgc-place-kv="policy=hca tau=0" 2>&1 | FileCheck %s --check-prefix=TAU-ZERO
// TAU-ZERO: error: hgc-place-kv: tau must be in (0, 1], got 0

// RUN: not hgc-opt %s -hgc-place-kv="policy=hca tau=1.5" 2>&1 | FileCheck %s --check-prefix=TAU-ABOVE
// TAU-ABOVE: error: hgc-place-kv: tau must be in (0, 1], got 1.5

// RUN: not hgc-opt %s -hgc-place-kv="policy=hca tau=most" 2>&1 | FileCheck %s --check-prefix=TAU-TEXT
// TAU-TEXT: for the --tau option: 'most' value invalid for floating point argument

// RUN: not hgc-opt %s -hgc-place-kv="policy=hca codebook=int4" 2>&1 | FileCheck %s --check-prefix=CODEBOOK
// CODEBOOK: error: hgc-place-kv: unknown codebook 'int4', expected int8 or pq<subspaces>x<centroids> (e.g. pq16x256)

// RUN: not hgc-opt %s -hgc-place-kv="policy=hca codebook=pq16x300" 2>&1 | FileCheck %s --check-prefix=CENTROIDS
// CENTROIDS: error: hgc-place-kv: codebook 'pq16x300': subspaces must be positive and centroids a power of two in [2, 65536]

// RUN: not hgc-opt %s -hgc-place-kv="policy=hca codebook=pq24x256" 2>&1 | FileCheck %s --check-prefix=SUBSPACES
// SUBSPACES: place-kv-invalid.mlir:[[@LINE+19]]:8: error: 'hgc.decode_attention' op pq_topk subspaces 24 of tier 'host' do not divide head_dim 128

// RUN: not hgc-opt %s -hgc-place-kv="policy=sparf channels=0" 2>&1 | FileCheck %s --check-prefix=CHANNELS-ZERO
// CHANNELS-ZERO: error: hgc-place-kv: channels must be positive, got 0

// RUN: not hgc-opt %s -hgc-place-kv="policy=sparf channels=256" 2>&1 | FileCheck %s --check-prefix=CHANNELS-WIDE
// CHANNELS-WIDE: place-kv-invalid.mlir:[[@LINE+13]]:8: error: 'hgc.decode_attention' op channel_topk channels 256 of tier 'host' exceed head_dim 128

// RUN: not hgc-opt %s -hgc-place-kv="policy=hgca host-capacity=-5" 2>&1 | FileCheck %s --check-prefix=HOST-CAPACITY
// HOST-CAPACITY: error: hgc-place-kv: host-capacity must be >= 0, got -5

// RUN: not hgc-opt %s -hgc-place-kv="policy=hgca sink=0 window=0" 2>&1 | FileCheck %s --check-prefix=HOTSET
// HOTSET: error: hgc-place-kv: the first tier 'device' holds only the hot set: sink + window must be > 0

// RUN: not hgc-opt %s -hgc-place-kv="policy=hgca window=4096" 2>&1 | FileCheck %s --check-prefix=CAPACITY
// CAPACITY: place-kv-invalid.mlir:[[@LINE+4]]:8: error: 'hgc.decode_attention' op placement hot set (sink + window = 4100) exceeds the cache's max_tokens 2048
func.func @small_cache(%q: tensor<1x32x128xf32>,
                       %c: !hgc.kv_cache<8x128xf16, max_tokens = 2048>)
    -> tensor<1x32x128xf32> {
  %o = hgc.decode_attention %q, %c
      : tensor<1x32x128xf32>, !hgc.kv_cache<8x128xf16, max_tokens = 2048>
      -> tensor<1x32x128xf32>
  return %o : tensor<1x32x128xf32>
}

// RUN: not hgc-opt %s -hgc-place-kv="policy=hgca far-capacity=100" 2>&1 | FileCheck %s --check-prefix=FAR-ALONE
// FAR-ALONE: error: hgc-place-kv: far-capacity needs a host-capacity: the far tier holds the cold tokens past the host's

// RUN: not hgc-opt %s -hgc-place-kv="policy=hgca host-capacity=8 far-capacity=-1" 2>&1 | FileCheck %s --check-prefix=FAR-NEGATIVE
// FAR-NEGATIVE: error: hgc-place-kv: far-capacity must be >= 0, got -1

// Values the policy does not read are still checked: a typo never passes.
// RUN: not hgc-opt %s -hgc-place-kv="policy=full budget=abc" 2>&1 | FileCheck %s --check-prefix=UNREAD
// UNREAD: error: hgc-place-kv: budget 'abc' is neither a token count (256) nor a fraction (0.05)
// RUN: not hgc-opt %s -hgc-place-kv="policy=hgca block=3" 2>&1 | FileCheck %s --check-prefix=UNREAD-BLOCK
// UNREAD-BLOCK: error: hgc-place-kv: block must be a positive power of two, got 3
