// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops | FileCheck %s

// Split-K online softmax, dense: (batch, KV head, KV split) in parallel so a
// GQA group's query heads share one pass over their K/V rows; tokens in
// blocks of 16 (scores into a [group, 16] scratch, one rescale per block),
// 8-wide f16 loads widened to f32 and FMAs over the head dim; a second
// parallel loop merges the splits and guards empty rows (0, -inf).
// RUN: hgc-opt %s -split-input-file -convert-hgc-to-loops="kv-split=16" \
// RUN:   | FileCheck %s --check-prefix=SPLIT
// CHECK-LABEL: func.func @partial_dense
// CHECK: %[[Q:.+]] = bufferization.to_buffer %{{.+}} read_only
// CHECK: %[[KVHEADS:.+]] = memref.dim %{{.+}}, %c1{{.*}} : memref<2x2x?x16xf16>
// CHECK: %[[GROUP:.+]] = arith.divui %{{.+}}, %[[KVHEADS]]
// CHECK: %[[OUT:.+]] = memref.alloc() : memref<2x8x16xf32>
// CHECK: %[[LSE:.+]] = memref.alloc() : memref<2x8xf32>
// CHECK: %[[CHUNKS:.+]] = arith.ceildivui %{{.+}}, %c2048
// CHECK: %[[SPLITS:.+]] = arith.maxui %[[CHUNKS]]
// CHECK: scf.parallel (%{{.+}}, %{{.+}}, %{{.+}}) = {{.+}} to (%{{.+}}, %[[KVHEADS]], %[[SPLITS]])
// CHECK:   %[[SCORES:.+]] = memref.alloca(%[[GROUP]]) : memref<?x16xf32>
// CHECK:   scf.for {{.+}} step %c16
// CHECK:     scf.for
// CHECK:       scf.for
// CHECK:         scf.for {{.+}} step %c8 iter_args({{.+}}) -> (vector<8xf32>)
// CHECK:           vector.load %[[Q]]{{.+}} vector<8xf32>
// CHECK:           vector.load {{.+}} : memref<2x2x?x16xf16>, vector<8xf16>
// CHECK:           arith.extf {{.+}} : vector<8xf16> to vector<8xf32>
// CHECK:           vector.fma
// CHECK:         vector.reduction <add>
// CHECK:         memref.store {{.+}}, %[[SCORES]]
// CHECK:     arith.maximumf
// CHECK:     math.exp
// CHECK:     math.exp
// CHECK:     vector.fma
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

// Selected blocks: negative indices skipped, tokens past the length skipped,
// softcap through tanh.
// The head dim 8 is one vector; block chunks count blocks (2048 / 16).
// CHECK-LABEL: func.func @partial_blocks
// CHECK: arith.ceildivui %{{.+}}, %c128
// CHECK: scf.parallel
// CHECK: scf.for
// CHECK:   arith.cmpi sge
// CHECK:   scf.if
// CHECK:     arith.muli
// CHECK:     scf.for
// CHECK:       arith.cmpi slt
// CHECK:       math.tanh
func.func @partial_blocks(%q: tensor<1x4x8xf32>, %k: tensor<1x2x64x8xbf16>,
    %i: tensor<1x2x3xi32>) -> (tensor<1x4x8xf32>, tensor<1x4xf32>) {
  %o, %l = hgc.partial_attention %q, %k, %k indices(%i)
      {block_size = 16 : i64, softcap = 30.0 : f32}
      : (tensor<1x4x8xf32>, tensor<1x2x64x8xbf16>, tensor<1x2x64x8xbf16>,
         tensor<1x2x3xi32>) -> (tensor<1x4x8xf32>, tensor<1x4xf32>)
  return %o, %l : tensor<1x4x8xf32>, tensor<1x4xf32>
}

// -----

// Selection: per KV head, the maximum over the group, then rounds of argmax;
// a fractional budget sizes the result from the longest sequence.
// CHECK-LABEL: func.func @select_fraction
// CHECK: %[[W:.+]] = scf.for {{.+}} -> (index)
// CHECK:   math.ceil
// CHECK: memref.alloc(%[[W]]) : memref<2x2x?xi32>
// CHECK: scf.parallel
// CHECK:   arith.maximumf
// CHECK:   arith.cmpf ogt
// CHECK-NOT: hgc.select
func.func @select_fraction(%q: tensor<2x8x16xf32>, %k: tensor<2x2x?x16xf32>,
    %n: tensor<2xi32>) -> tensor<2x2x?xi32> {
  %i = hgc.select exact_topk %q, %k lengths(%n) {fraction = 0.25 : f64}
      : (tensor<2x8x16xf32>, tensor<2x2x?x16xf32>, tensor<2xi32>) -> tensor<2x2x?xi32>
  return %i : tensor<2x2x?xi32>
}

// -----

// CHECK-LABEL: func.func @merge
// CHECK: scf.parallel
// CHECK:   arith.cmpf oeq
// CHECK:   math.exp
// CHECK:   math.exp
// CHECK:   scf.for
// CHECK-NOT: hgc.lse_merge
func.func @merge(%a: tensor<1x4x8xf32>, %b: tensor<1x4x8xf32>, %la: tensor<1x4xf32>,
    %lb: tensor<1x4xf32>) -> tensor<1x4x8xf32> {
  %o, %l = hgc.lse_merge %a, %b lse %la, %lb : tensor<1x4x8xf32>, tensor<1x4xf32>
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
