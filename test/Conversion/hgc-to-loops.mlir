// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops | FileCheck %s

// Split-K online softmax, dense: (batch, KV head, KV split) in parallel so a
// GQA group's query heads share one pass over their K/V rows; tokens in
// blocks of 16 (scores into a [group, 16] scratch, one rescale per block),
// 8-wide f16 loads widened to f32 and FMAs over the head dim; a second
// parallel loop merges the splits and guards empty rows (0, -inf).
// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops="kv-split=16" \
// RUN:   | FileCheck %s --check-prefix=SPLIT
// Every f32 exp of the kernels is an inline polynomial, not a libm call.
// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops \
// RUN:   | FileCheck %s --check-prefix=NOEXP
// NOEXP-NOT: math.exp
// CHECK-LABEL: func.func @partial_dense
// CHECK: %[[Q:.+]] = bufferization.to_buffer %{{.+}} read_only : tensor<2x8x16xf32> to memref<2x8x16xf32, strided<[?, ?, 1], offset: ?>>
// CHECK: %[[KVHEADS:.+]] = memref.dim %{{.+}}, %c1{{.*}} : memref<2x2x?x16xf16, strided<[?, ?, ?, 1], offset: ?>>
// CHECK: %[[GROUP:.+]] = arith.divui %{{.+}}, %[[KVHEADS]]
// CHECK: %[[OUT:.+]] = memref.alloc() : memref<2x8x16xf32>
// CHECK: %[[LSE:.+]] = memref.alloc() : memref<2x8xf32>
// CHECK: %[[CHUNKS:.+]] = arith.ceildivui %{{.+}}, %c2048
// CHECK: %[[SPLITS:.+]] = arith.maxui %[[CHUNKS]]
// CHECK: scf.parallel (%{{.+}}, %{{.+}}, %{{.+}}) = {{.+}} to (%{{.+}}, %[[KVHEADS]], %[[SPLITS]])
// CHECK:   %[[SCORES:.+]] = memref.alloca(%[[GROUP]]) : memref<?x16xf32>
// CHECK:   scf.for {{.+}} step %c16
// A short last block is padded with -inf scores.
// CHECK:     memref.store %{{.+}}, %[[SCORES]]
// The 4 query heads of a group share each widened K row.
// CHECK:     scf.for {{.+}} to %[[GROUP]] step %c4
// CHECK:       scf.for
// The head dim (2 vectors of 8) is unrolled: per chunk one widened K
// vector for 4 FMAs; one prefetch per cache line of the V row; the 4 dot
// products reduced together by a shuffle tree.
// CHECK:         vector.load {{.+}} : memref<2x2x?x16xf16, strided<[?, ?, ?, 1], offset: ?>>, vector<8xf16>
// CHECK:         arith.extf {{.+}} : vector<8xf16> to vector<8xf32>
// CHECK:         vector.load %[[Q]]{{.+}} vector<8xf32>
// CHECK-COUNT-4: vector.fma
// CHECK:         vector.load {{.+}} vector<8xf16>
// CHECK-COUNT-4: vector.fma
// CHECK:         memref.prefetch
// CHECK-COUNT-6: vector.shuffle
// CHECK:         vector.extract_strided_slice
// CHECK:         memref.store {{.+}}, %[[SCORES]]
// One online-softmax update per head and block, on a 16-lane vector.
// CHECK:     vector.load %[[SCORES]]{{.+}} vector<16xf32>
// CHECK:     vector.reduction <maxnumf>
// CHECK:     arith.subf {{.+}} : vector<16xf32>
// CHECK:     vector.store {{.+}}, %[[SCORES]]
// P times V: 2 lane chunks x 4 heads of accumulators carried over the block.
// CHECK:     scf.for {{.+}} to %[[GROUP]] step %c4
// CHECK:       scf.for {{.+}} step %c16
// CHECK:         scf.for {{.+}} iter_args({{.+}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-8:   vector.fma
// CHECK: scf.parallel
// CHECK:   arith.cmpf oeq
// CHECK:   arith.cmpf ogt
// CHECK:   math.log
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
// CHECK-NOT: hgc.partial_attention
// SPLIT-LABEL: func.func @partial_dense
// SPLIT: arith.ceildivui %{{.+}}, %c16
func.func @partial_dense(%q: tensor<2x8x16xf32>, %k: tensor<2x2x?x16xf16>,
    %v: tensor<2x2x?x16xf16>, %n: tensor<2xi32>)
    -> (tensor<2x8x16xf32>, tensor<2x8xf32>) {
  %o, %l = hgc.partial_attention %q, %k, %v lengths(%n)
      : (tensor<2x8x16xf32>, tensor<2x2x?x16xf16>, tensor<2x2x?x16xf16>,
         tensor<2xi32>) -> (tensor<2x8x16xf32>, tensor<2x8xf32>)
  return %o, %l : tensor<2x8x16xf32>, tensor<2x8xf32>
}

// -----

// Selected blocks of whole 16-token blocks: chunks of 2048 positions hold
// whole entries; each selected entry (negative ones skipped) is a token
// range clipped to the sequence's length, attended 16 tokens at a time like
// dense tokens (no per-token resolution). Softcap through tanh.
// CHECK-LABEL: func.func @partial_blocks
// CHECK: %[[POSITIONS:.+]] = arith.muli %{{.+}}, %c16
// CHECK: arith.ceildivui %[[POSITIONS]], %c2048
// CHECK: scf.parallel
// CHECK-NOT: memref<16xindex>
// CHECK:   scf.for %[[E:.+]] = %{{.+}} to %{{.+}} step
// CHECK:     %[[ENTRY:.+]] = memref.load %{{.+}}[%{{.+}}, %{{.+}}, %[[E]]]
// CHECK:     arith.cmpi sge, %[[ENTRY]], %c0_i32
// CHECK:     scf.if
// CHECK:       arith.muli
// CHECK:       arith.minsi
// CHECK:       scf.for {{.+}} step %c16
// CHECK:         vector.load {{.+}} vector<8xbf16>
// CHECK:         math.tanh
func.func @partial_blocks(%q: tensor<1x4x8xf32>, %k: tensor<1x2x64x8xbf16>,
    %i: tensor<1x2x3xi32>) -> (tensor<1x4x8xf32>, tensor<1x4xf32>) {
  %o, %l = hgc.partial_attention %q, %k, %k indices(%i)
      {block_size = 16 : i64, softcap = 30.0 : f32}
      : (tensor<1x4x8xf32>, tensor<1x2x64x8xbf16>, tensor<1x2x64x8xbf16>,
         tensor<1x2x3xi32>) -> (tensor<1x4x8xf32>, tensor<1x4xf32>)
  return %o, %l : tensor<1x4x8xf32>, tensor<1x4xf32>
}

// -----

// Selected blocks smaller than a token block: the kernel walks positions
// (entries x block_size tokens); each block of 16 positions first resolves
// its tokens (-1 for a negative entry or a token past the length), then
// skips those without touching K or V.
// CHECK-LABEL: func.func @partial_entries
// CHECK: %[[POSITIONS:.+]] = arith.muli %{{.+}}, %c4
// CHECK: arith.ceildivui %[[POSITIONS]], %c2048
// CHECK: scf.parallel
// CHECK:   %[[TOKENS:.+]] = memref.alloca() : memref<16xindex>
// CHECK:   scf.for
// CHECK:     scf.for
// CHECK:       arith.divui
// CHECK:       memref.load
// CHECK:       arith.remui
// CHECK:       arith.cmpi sge
// CHECK:       arith.cmpi slt
// CHECK:       memref.store %{{.+}}, %[[TOKENS]]
// CHECK:     memref.load %[[TOKENS]]
// CHECK:     arith.cmpi sge
// CHECK:     scf.if
// CHECK:       vector.load {{.+}} vector<8xf32>
func.func @partial_entries(%q: tensor<1x4x8xf32>, %k: tensor<1x2x64x8xf32>,
    %i: tensor<1x2x3xi32>, %n: tensor<1xi32>) -> (tensor<1x4x8xf32>, tensor<1x4xf32>) {
  %o, %l = hgc.partial_attention %q, %k, %k indices(%i) lengths(%n)
      {block_size = 4 : i64}
      : (tensor<1x4x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>,
         tensor<1x2x3xi32>, tensor<1xi32>) -> (tensor<1x4x8xf32>, tensor<1x4xf32>)
  return %o, %l : tensor<1x4x8xf32>, tensor<1x4xf32>
}

// -----

// Exact selection per KV head: a token's score is the maximum over the
// group's query heads (4 heads share each widened K row, their dot products
// reduced together), stored as an
// order-preserving i32 key; a 4-pass radix select (8-bit digits, a 256-bin
// histogram) finds the k-th largest key; one more pass writes the chosen
// tokens in ascending order (ties to the lower index) and -1 past them.
// Keeping every token (or none) skips the scores. A fractional budget sizes
// the result from the longest sequence.
// CHECK-LABEL: func.func @select_fraction
// CHECK: %[[W:.+]] = scf.for {{.+}} -> (index)
// CHECK:   math.ceil
// CHECK: %[[OUT:.+]] = memref.alloc(%[[W]]) : memref<2x2x?xi32>
// CHECK: scf.parallel
// CHECK:   %[[KEYS:.+]] = memref.alloc(%{{.+}}) : memref<?xi32>
// CHECK:   scf.if
// CHECK:     scf.for
// CHECK:       scf.for {{.+}} step %c4
// CHECK-COUNT-8: vector.fma
// CHECK-COUNT-6: vector.shuffle
// CHECK:       arith.bitcast {{.+}} : f32 to i32
// CHECK:       arith.shrsi
// CHECK:       arith.xori
// CHECK:       memref.store {{.+}}, %[[KEYS]]
// CHECK:     %[[HIST:.+]] = memref.alloca() : memref<256xi32>
// CHECK:     %[[KTH:.+]]:2 = scf.for {{.+}} to %c4{{.*}} -> (i32, index)
// CHECK:       arith.shrui
// CHECK:       memref.store {{.+}}, %[[HIST]]
// CHECK:       scf.for {{.+}} to %c256{{.*}} -> (index, index, index, i1)
// CHECK:     scf.for {{.+}} -> (index, index)
// CHECK:       arith.cmpi ugt, %{{.+}}, %[[KTH]]#0
// CHECK:       scf.if
// CHECK:         memref.store {{.+}}, %[[OUT]]
// CHECK:   } else {
// CHECK:     memref.store {{.+}}, %[[OUT]]
// CHECK:   scf.for
// CHECK:     memref.store %c-1_i32, %[[OUT]]
// CHECK-NOT: hgc.select
func.func @select_fraction(%q: tensor<2x8x16xf32>, %k: tensor<2x2x?x16xf32>,
    %n: tensor<2xi32>) -> tensor<2x2x?xi32> {
  %i = hgc.select exact_topk %q, %k lengths(%n) {fraction = 0.25 : f64}
      : (tensor<2x8x16xf32>, tensor<2x2x?x16xf32>, tensor<2xi32>) -> tensor<2x2x?xi32>
  return %i : tensor<2x2x?xi32>
}

// -----

// Host-tier summaries computed from the bound keys: per (batch, KV head,
// block) the lane-wise min/max over the block's tokens (from token sink +
// block * 16), narrowed back to the key type.
// CHECK-LABEL: func.func @summaries_computed
// CHECK: arith.ceildivui %{{.+}}, %c16
// CHECK: %[[MIN:.+]] = memref.alloc(%{{.+}}) : memref<1x2x?x8xf16>
// CHECK: %[[MAX:.+]] = memref.alloc(%{{.+}}) : memref<1x2x?x8xf16>
// CHECK: scf.parallel
// CHECK:   scf.for {{.+}} step %c8
// CHECK:     vector.load {{.+}} vector<8xf16>
// CHECK:     scf.for {{.+}} -> (vector<8xf32>, vector<8xf32>)
// CHECK:       arith.minimumf {{.+}} : vector<8xf32>
// CHECK:       arith.maximumf {{.+}} : vector<8xf32>
// CHECK:     arith.truncf {{.+}} : vector<8xf32> to vector<8xf16>
// CHECK:     vector.store {{.+}}, %[[MIN]]
// CHECK:     vector.store {{.+}}, %[[MAX]]
func.func @summaries_computed(%k: tensor<1x2x100x8xf16>) -> tensor<1x2x?x8xf16> {
  %c = hgc.bind_kv %k, %k : tensor<1x2x100x8xf16>, tensor<1x2x100x8xf16> -> !hgc.kv_cache<2x8xf16>
  %lo, %hi, %n = hgc.kv_summaries %c tier host {block_size = 16 : i64,
      placement = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = block_topk(budget = 2)]>}
      : !hgc.kv_cache<2x8xf16> -> tensor<1x2x?x8xf16>, tensor<1x2x?x8xf16>, tensor<1xi32>
  return %lo : tensor<1x2x?x8xf16>
}

// -----

// Summaries bound with the cache whose blocks line up with the host tier
// (sink 16 = block 1): a slice from block 1, read in place.
// CHECK-LABEL: func.func @summaries_bound
// CHECK-SAME: %[[S:[a-z0-9]+]]: tensor<1x2x7x8xf16>
// CHECK-NOT: memref.alloc({{.+}}) : memref<1x2x?x8xf16>
// CHECK: tensor.extract_slice %[[S]][0, 0, %{{.+}}, 0] [1, 2, %{{.+}}, 8] [1, 1, 1, 1]
func.func @summaries_bound(%k: tensor<1x2x100x8xf16>, %s: tensor<1x2x7x8xf16>)
    -> tensor<1x2x?x8xf16> {
  %c = hgc.bind_kv %k, %k summaries(%s, %s : tensor<1x2x7x8xf16>, tensor<1x2x7x8xf16>)
      {summary_block = 16 : i64}
      : tensor<1x2x100x8xf16>, tensor<1x2x100x8xf16> -> !hgc.kv_cache<2x8xf16>
  %lo, %hi, %n = hgc.kv_summaries %c tier host {block_size = 16 : i64,
      placement = #hgc.placement<sink = 16, window = 8, tiers = [device = dense, host = block_topk(budget = 2)]>}
      : !hgc.kv_cache<2x8xf16> -> tensor<1x2x?x8xf16>, tensor<1x2x?x8xf16>, tensor<1xi32>
  return %lo : tensor<1x2x?x8xf16>
}

// -----

// Key codes quantized from the tier's keys in the program, 8 lanes at a
// time: per token, the largest magnitude over the head dim sets the scale,
// each channel divides by it, rounds half to even and converts to i8.
// CHECK-LABEL: func.func @codes_computed
// CHECK: scf.parallel
// CHECK: math.absf {{.+}} : vector<8xf32>
// CHECK: vector.reduction <maximumf>
// CHECK: arith.divf {{.+}} : vector<8xf32>
// CHECK: math.roundeven {{.+}} : vector<8xf32>
// CHECK: arith.fptosi {{.+}} : vector<8xf32> to vector<8xi8>
// CHECK-NOT: hgc.kv_key_codes
func.func @codes_computed(%k: tensor<1x2x100x8xf16>) -> tensor<1x2x?x8xi8> {
  %c = hgc.bind_kv %k, %k : tensor<1x2x100x8xf16>, tensor<1x2x100x8xf16> -> !hgc.kv_cache<2x8xf16>
  %codes, %scales, %n = hgc.kv_key_codes %c tier host {bits = 8 : i64,
      placement = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = quant_topk(budget = 2)]>}
      : !hgc.kv_cache<2x8xf16> -> tensor<1x2x?x8xi8>, tensor<1x2x?xf32>, tensor<1xi32>
  return %codes : tensor<1x2x?x8xi8>
}

// -----

// Codes bound with the cache (an engine's, per token from token 0): the host
// tier's are a slice from its first token (the sinks), read in place.
// CHECK-LABEL: func.func @codes_bound
// CHECK-SAME: %[[CODES:[a-z0-9]+]]: tensor<1x2x100x8xi8>, %[[SCALES:[a-z0-9]+]]: tensor<1x2x100xf32>
// CHECK-NOT: math.roundeven
// CHECK: tensor.extract_slice %[[CODES]][0, 0, %{{.+}}, 0] [1, 2, %{{.+}}, 8] [1, 1, 1, 1]
// CHECK: tensor.extract_slice %[[SCALES]][0, 0, %{{.+}}] [1, 2, %{{.+}}] [1, 1, 1]
func.func @codes_bound(%k: tensor<1x2x100x8xf16>, %codes: tensor<1x2x100x8xi8>,
    %scales: tensor<1x2x100xf32>) -> (tensor<1x2x?x8xi8>, tensor<1x2x?xf32>) {
  %c = hgc.bind_kv %k, %k codes(%codes, %scales : tensor<1x2x100x8xi8>, tensor<1x2x100xf32>)
      : tensor<1x2x100x8xf16>, tensor<1x2x100x8xf16> -> !hgc.kv_cache<2x8xf16>
  %hc, %hs, %n = hgc.kv_key_codes %c tier host {bits = 8 : i64,
      placement = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = quant_topk(budget = 2)]>}
      : !hgc.kv_cache<2x8xf16> -> tensor<1x2x?x8xi8>, tensor<1x2x?xf32>, tensor<1xi32>
  return %hc, %hs : tensor<1x2x?x8xi8>, tensor<1x2x?xf32>
}

// -----

// quant_topk scores a token from its i8 codes widened to f32 times its
// scale. The mass rule selects the budget's top candidates (a count radix
// select), compacts them with the best key, sums every candidate's
// exp(score - best) 8 lanes at a time, then cuts the compacted candidates
// where their mass reaches tau (a radix select over f32 mass bins).
// CHECK-LABEL: func.func @select_codes_mass
// CHECK: arith.sitofp {{.+}} : vector<8xi8> to vector<8xf32>
// CHECK: memref.alloca() : memref<256xi32>
// CHECK: arith.maxui
// CHECK: arith.bitcast {{.+}} : vector<8xi32> to vector<8xf32>
// CHECK: vector.reduction <add>
// CHECK: memref.alloca() : memref<256xf32>
// CHECK-NOT: hgc.select
func.func @select_codes_mass(%q: tensor<1x4x8xf32>, %codes: tensor<1x2x40x8xi8>,
    %scales: tensor<1x2x40xf32>) -> tensor<1x2x?xi32> {
  %i = hgc.select quant_topk %q, %codes, %scales {fraction = 0.5 : f64, mass = 0.9 : f64}
      : (tensor<1x4x8xf32>, tensor<1x2x40x8xi8>, tensor<1x2x40xf32>) -> tensor<1x2x?xi32>
  return %i : tensor<1x2x?xi32>
}

// -----

// pq codes bound with the cache: the host tier's slice of the codes from its
// first token, and the head group's codebooks, read in place.
// CHECK-LABEL: func.func @pq_codes_bound
// CHECK-SAME: %[[CODES:[a-z0-9]+]]: tensor<1x4x100x4xi8>, %[[BOOKS:[a-z0-9]+]]: tensor<1x4x4x16x2xf32>
// CHECK: tensor.extract_slice %[[CODES]][0, 2, %{{.+}}, 0] [1, 2, %{{.+}}, 4] [1, 1, 1, 1]
// CHECK: tensor.extract_slice %[[BOOKS]][0, 2, 0, 0, 0] [%{{.+}}, 2, %{{.+}}, %{{.+}}, %{{.+}}] [1, 1, 1, 1, 1]
func.func @pq_codes_bound(%k: tensor<1x4x100x8xf16>, %codes: tensor<1x4x100x4xi8>,
    %books: tensor<1x4x4x16x2xf32>) -> (tensor<1x2x?x4xi8>, tensor<1x2x4x16x2xf32>) {
  %c = hgc.bind_kv %k, %k pq(%codes, %books : tensor<1x4x100x4xi8>, tensor<1x4x4x16x2xf32>)
      : tensor<1x4x100x8xf16>, tensor<1x4x100x8xf16> -> !hgc.kv_cache<4x8xf16>
  %hc, %hb, %n = hgc.kv_pq_codes %c tier host {subspaces = 4 : i64, centroids = 16 : i64, first_head = 2 : i64,
      placement = #hgc.placement<sink = 4, window = 8, tiers = [device = dense, host = pq_topk(budget = 2, subspaces = 4, centroids = 16)]>}
      : !hgc.kv_cache<4x8xf16> -> tensor<1x2x?x4xi8>, tensor<1x2x4x16x2xf32>, tensor<1xi32>
  return %hc, %hb : tensor<1x2x?x4xi8>, tensor<1x2x4x16x2xf32>
}

// -----

// pq_topk: per row a table of scaled q . centroid (subspaces x centroids x
// group), then per candidate, per sub-space, its code read unsigned and the
// group's entries for that centroid loaded as one vector.
// CHECK-LABEL: func.func @select_pq
// CHECK: scf.parallel
// CHECK: memref.alloc(%{{.+}}) : memref<4x16x?xf32>
// CHECK: math.fma
// CHECK: arith.extui {{.+}} : i8 to i32
// CHECK: arith.index_castui
// CHECK: vector.load {{.+}} : memref<4x16x?xf32>, vector<2xf32>
// CHECK-NOT: hgc.select
func.func @select_pq(%q: tensor<1x4x8xf32>, %codes: tensor<1x2x40x4xi8>,
    %books: tensor<1x2x4x16x2xf32>) -> tensor<1x2x5xi32> {
  %i = hgc.select pq_topk %q, %codes, %books {k = 5 : i64}
      : (tensor<1x4x8xf32>, tensor<1x2x40x4xi8>, tensor<1x2x4x16x2xf32>) -> tensor<1x2x5xi32>
  return %i : tensor<1x2x5xi32>
}

// -----

// CHECK-LABEL: func.func @merge
// CHECK: scf.parallel
// CHECK:   arith.cmpf oeq
// CHECK:   math.fma
// CHECK:   scf.for
// CHECK-NOT: hgc.lse_merge
func.func @merge(%a: tensor<1x4x8xf32>, %b: tensor<1x4x8xf32>, %la: tensor<1x4xf32>,
    %lb: tensor<1x4xf32>) -> tensor<1x4x8xf32> {
  %o, %l = hgc.lse_merge %a, %b lse %la, %lb : tensor<1x4x8xf32>, tensor<1x4xf32>
  return %o : tensor<1x4x8xf32>
}

// -----

// A tail estimate: per (sequence, KV head) the selected blocks marked in a
// byte per token, the unmarked tokens' moments summed per block of 32, each
// block's log-mass folded into an online softmax per query head.
// CHECK-LABEL: func.func @tail_estimate
// CHECK: scf.parallel
// CHECK:   memref.alloc({{.+}}) : memref<?xi8>
// CHECK:   arith.muli {{.+}}, %c16
// CHECK:   scf.for {{.+}} step %c32
// CHECK:     arith.cmpi eq
// CHECK:     math.log
// CHECK:   arith.select {{.+}}, %cst{{.*}} : f32
// CHECK-NOT: hgc.tail_estimate
func.func @tail_estimate(%q: tensor<1x4x8xf32>, %k: tensor<1x2x100x8xf16>,
    %i: tensor<1x2x2xi32>, %n: tensor<1xi32>) -> tensor<1x4x8xf32> {
  %o, %l = hgc.tail_estimate %q, %k, %k, %i lengths(%n)
      {block_size = 16 : i64, summary_block = 32 : i64}
      : (tensor<1x4x8xf32>, tensor<1x2x100x8xf16>, tensor<1x2x100x8xf16>,
         tensor<1x2x2xi32>, tensor<1xi32>) -> (tensor<1x4x8xf32>, tensor<1x4xf32>)
  return %o : tensor<1x4x8xf32>
}

// -----

// On the host the asynchronous ops are the values themselves.
// CHECK-LABEL: func.func @transfers
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<4xf32>)
// CHECK-NOT: hgc.
// CHECK: return %[[X]]
func.func @transfers(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y, %t = hgc.transfer %x from device to host : tensor<4xf32>
  %z, %t2 = hgc.transfer %y from host to device after %t : tensor<4xf32>
  %w = hgc.wait %t, %t2 ready %z : tensor<4xf32>
  return %w : tensor<4xf32>
}
