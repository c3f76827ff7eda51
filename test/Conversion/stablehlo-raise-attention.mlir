// RUN: hgc-opt %s -split-input-file -hgc-raise-stablehlo-attention -canonicalize | FileCheck %s

// What jax.nn.dot_product_attention(implementation='xla') emits for a GQA
// decode step (BTNH, 4 query heads over 2 KV heads, head dim 8, 16 keys):
// Q is regrouped to [B, T, K, G, H], the logits are [B, K, T, G, S], XLA's
// softmax runs in [G, B, K, T, S], P x V yields [B, K, H, G, T]. One
// hgc.attention in [B, H, T, D] replaces the lot; the transposes around it
// follow the axis roles.

// CHECK-LABEL: func.func public @main
// CHECK: %[[G:.*]] = stablehlo.reshape %arg0 : (tensor<1x1x4x8xf32>) -> tensor<1x1x2x2x8xf32>
// CHECK: %[[QT:.*]] = stablehlo.transpose %[[G]], dims = [0, 2, 3, 1, 4] : (tensor<1x1x2x2x8xf32>) -> tensor<1x2x2x1x8xf32>
// CHECK: %[[Q:.*]] = stablehlo.reshape %[[QT]] : (tensor<1x2x2x1x8xf32>) -> tensor<1x4x1x8xf32>
// CHECK: %[[K:.*]] = stablehlo.transpose %arg1, dims = [0, 2, 1, 3] : (tensor<1x16x2x8xf32>) -> tensor<1x2x16x8xf32>
// CHECK: %[[V:.*]] = stablehlo.transpose %arg2, dims = [0, 2, 1, 3] : (tensor<1x16x2x8xf32>) -> tensor<1x2x16x8xf32>
// CHECK: %[[O:.*]] = hgc.attention %[[Q]], %[[K]], %[[V]] {scale = 0.353553385 : f32} : tensor<1x4x1x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32> -> tensor<1x4x1x8xf32>
// CHECK: %[[OG:.*]] = stablehlo.reshape %[[O]] : (tensor<1x4x1x8xf32>) -> tensor<1x2x2x1x8xf32>
// CHECK: stablehlo.transpose %[[OG]], dims = [0, 1, 4, 2, 3] : (tensor<1x2x2x1x8xf32>) -> tensor<1x2x8x2x1xf32>
// CHECK-NOT: stablehlo.exponential
// CHECK-NOT: stablehlo.dot_general
module {
  func.func public @main(%arg0: tensor<1x1x4x8xf32>, %arg1: tensor<1x16x2x8xf32>, %arg2: tensor<1x16x2x8xf32>) -> (tensor<1x1x4x8xf32> {jax.result_info = "result"}) {
    %0 = stablehlo.reshape %arg0 : (tensor<1x1x4x8xf32>) -> tensor<1x1x2x2x8xf32>
    %1 = stablehlo.dot_general %0, %arg1, batching_dims = [0, 2] x [0, 2], contracting_dims = [4] x [3], precision = [DEFAULT, DEFAULT] : (tensor<1x1x2x2x8xf32>, tensor<1x16x2x8xf32>) -> tensor<1x2x1x2x16xf32>
    %cst = stablehlo.constant dense<0.353553385> : tensor<f32>
    %2 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f32>) -> tensor<1x2x1x2x16xf32>
    %3 = stablehlo.multiply %1, %2 : tensor<1x2x1x2x16xf32>
    %cst_0 = stablehlo.constant dense<0xFF800000> : tensor<f32>
    %4 = stablehlo.reduce(%3 init: %cst_0) applies stablehlo.maximum across dimensions = [4] : (tensor<1x2x1x2x16xf32>, tensor<f32>) -> tensor<1x2x1x2xf32>
    %cst_1 = stablehlo.constant dense<0xFF800000> : tensor<f32>
    %5 = stablehlo.broadcast_in_dim %cst_1, dims = [] : (tensor<f32>) -> tensor<1x2x1x2xf32>
    %6 = stablehlo.maximum %5, %4 : tensor<1x2x1x2xf32>
    %7 = stablehlo.transpose %6, dims = [3, 0, 1, 2] : (tensor<1x2x1x2xf32>) -> tensor<2x1x2x1xf32>
    %8 = stablehlo.broadcast_in_dim %7, dims = [0, 1, 2, 3] : (tensor<2x1x2x1xf32>) -> tensor<2x1x2x1x1xf32>
    %9 = stablehlo.transpose %3, dims = [3, 0, 1, 2, 4] : (tensor<1x2x1x2x16xf32>) -> tensor<2x1x2x1x16xf32>
    %10 = stablehlo.broadcast_in_dim %8, dims = [0, 1, 2, 3, 4] : (tensor<2x1x2x1x1xf32>) -> tensor<2x1x2x1x16xf32>
    %11 = stablehlo.subtract %9, %10 : tensor<2x1x2x1x16xf32>
    %12 = stablehlo.exponential %11 : tensor<2x1x2x1x16xf32>
    %cst_2 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %13 = stablehlo.reduce(%12 init: %cst_2) applies stablehlo.add across dimensions = [4] : (tensor<2x1x2x1x16xf32>, tensor<f32>) -> tensor<2x1x2x1xf32>
    %14 = stablehlo.broadcast_in_dim %13, dims = [0, 1, 2, 3] : (tensor<2x1x2x1xf32>) -> tensor<2x1x2x1x1xf32>
    %15 = stablehlo.broadcast_in_dim %14, dims = [0, 1, 2, 3, 4] : (tensor<2x1x2x1x1xf32>) -> tensor<2x1x2x1x16xf32>
    %16 = stablehlo.divide %12, %15 : tensor<2x1x2x1x16xf32>
    %17 = stablehlo.dot_general %arg2, %16, batching_dims = [0, 2] x [1, 2], contracting_dims = [1] x [4], precision = [DEFAULT, DEFAULT] : (tensor<1x16x2x8xf32>, tensor<2x1x2x1x16xf32>) -> tensor<1x2x8x2x1xf32>
    %18 = stablehlo.transpose %17, dims = [3, 0, 4, 1, 2] : (tensor<1x2x8x2x1xf32>) -> tensor<2x1x1x2x8xf32>
    %19 = stablehlo.transpose %18, dims = [1, 2, 3, 0, 4] : (tensor<2x1x1x2x8xf32>) -> tensor<1x1x2x2x8xf32>
    %20 = stablehlo.reshape %19 : (tensor<1x1x2x2x8xf32>) -> tensor<1x1x4x8xf32>
    return %20 : tensor<1x1x4x8xf32>
  }
}

// -----

// A mask (select with JAX's finite large negative) becomes an additive bias
// in Q's type in hgc.attention's layout; scales multiply. Here Q and K are
// [B, N, T, H] already (einsum "bnth,bnsh->bnts").

// CHECK-LABEL: func.func @masked_bnth
// CHECK-DAG: %[[ZERO:.*]] = stablehlo.constant dense<0.000000e+00> : tensor<f32>
// CHECK-DAG: %[[FILL:.*]] = stablehlo.constant dense<-1.000000e+30> : tensor<f32>
// CHECK: %[[BIAS:.*]] = stablehlo.select %arg3, %{{.*}}, %{{.*}} : tensor<1x2x3x5xi1>, tensor<1x2x3x5xf32>
// CHECK: hgc.attention %arg0, %arg1, %arg2 mask(%[[BIAS]] : tensor<1x2x3x5xf32>) {scale = 1.000000e-01 : f32} : tensor<1x2x3x4xf32>, tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32> -> tensor<1x2x3x4xf32>
// CHECK-NOT: stablehlo.dot_general
func.func @masked_bnth(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x5x4xf32>,
    %v: tensor<1x2x5x4xf32>, %m: tensor<1x2x3x5xi1>) -> tensor<1x2x3x4xf32> {
  %s = stablehlo.dot_general %q, %k, batching_dims = [0, 1] x [0, 1], contracting_dims = [3] x [3] : (tensor<1x2x3x4xf32>, tensor<1x2x5x4xf32>) -> tensor<1x2x3x5xf32>
  %c = stablehlo.constant dense<0.2> : tensor<f32>
  %cb = stablehlo.broadcast_in_dim %c, dims = [] : (tensor<f32>) -> tensor<1x2x3x5xf32>
  %s1 = stablehlo.multiply %s, %cb : tensor<1x2x3x5xf32>
  %h = stablehlo.constant dense<2.0> : tensor<f32>
  %hb = stablehlo.broadcast_in_dim %h, dims = [] : (tensor<f32>) -> tensor<1x2x3x5xf32>
  %s2 = stablehlo.divide %s1, %hb : tensor<1x2x3x5xf32>
  %neg = stablehlo.constant dense<-1.0e30> : tensor<f32>
  %nb = stablehlo.broadcast_in_dim %neg, dims = [] : (tensor<f32>) -> tensor<1x2x3x5xf32>
  %x = stablehlo.select %m, %s2, %nb : tensor<1x2x3x5xi1>, tensor<1x2x3x5xf32>
  %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>
  %mx = stablehlo.reduce(%x init: %ninf) applies stablehlo.maximum across dimensions = [3] : (tensor<1x2x3x5xf32>, tensor<f32>) -> tensor<1x2x3xf32>
  %mb = stablehlo.broadcast_in_dim %mx, dims = [0, 1, 2] : (tensor<1x2x3xf32>) -> tensor<1x2x3x5xf32>
  %d = stablehlo.subtract %x, %mb : tensor<1x2x3x5xf32>
  %e = stablehlo.exponential %d : tensor<1x2x3x5xf32>
  %zero = stablehlo.constant dense<0.0> : tensor<f32>
  %sum = stablehlo.reduce(%e init: %zero) applies stablehlo.add across dimensions = [3] : (tensor<1x2x3x5xf32>, tensor<f32>) -> tensor<1x2x3xf32>
  %sb = stablehlo.broadcast_in_dim %sum, dims = [0, 1, 2] : (tensor<1x2x3xf32>) -> tensor<1x2x3x5xf32>
  %p = stablehlo.divide %e, %sb : tensor<1x2x3x5xf32>
  %y = stablehlo.dot_general %p, %v, batching_dims = [0, 1] x [0, 1], contracting_dims = [3] x [2] : (tensor<1x2x3x5xf32>, tensor<1x2x5x4xf32>) -> tensor<1x2x3x4xf32>
  return %y : tensor<1x2x3x4xf32>
}

// -----

// A mask broadcast over the heads (a key-padding mask `iota <= position`,
// as JAX LLM code writes it) stays per key: the bias is sliced to one head,
// [B, 1, T, S], which hgc-bind-kv-cache binds as the cache's lengths.

// CHECK-LABEL: func.func @mask_per_key
// CHECK: %[[BIAS:.*]] = stablehlo.select %{{.*}}, %{{.*}}, %{{.*}} : tensor<1x2x1x5xi1>, tensor<1x2x1x5xf32>
// CHECK: %[[KEYS:.*]] = stablehlo.slice %[[BIAS]] [0:1, 0:1, 0:1, 0:5] : (tensor<1x2x1x5xf32>) -> tensor<1x1x1x5xf32>
// CHECK: hgc.attention %arg0, %arg1, %arg2 mask(%[[KEYS]] : tensor<1x1x1x5xf32>)
func.func @mask_per_key(%q: tensor<1x2x1x4xf32>, %k: tensor<1x2x5x4xf32>,
    %v: tensor<1x2x5x4xf32>, %pos: tensor<i32>) -> tensor<1x2x1x4xf32> {
  %s = stablehlo.dot_general %q, %k, batching_dims = [0, 1] x [0, 1], contracting_dims = [3] x [3] : (tensor<1x2x1x4xf32>, tensor<1x2x5x4xf32>) -> tensor<1x2x1x5xf32>
  %iota = stablehlo.iota dim = 0 : tensor<5xi32>
  %pb = stablehlo.broadcast_in_dim %pos, dims = [] : (tensor<i32>) -> tensor<5xi32>
  %valid = stablehlo.compare LE, %iota, %pb, SIGNED : (tensor<5xi32>, tensor<5xi32>) -> tensor<5xi1>
  %m1 = stablehlo.broadcast_in_dim %valid, dims = [3] : (tensor<5xi1>) -> tensor<1x1x1x5xi1>
  %m = stablehlo.broadcast_in_dim %m1, dims = [0, 1, 2, 3] : (tensor<1x1x1x5xi1>) -> tensor<1x2x1x5xi1>
  %neg = stablehlo.constant dense<-1.0e30> : tensor<f32>
  %nb = stablehlo.broadcast_in_dim %neg, dims = [] : (tensor<f32>) -> tensor<1x2x1x5xf32>
  %x = stablehlo.select %m, %s, %nb : tensor<1x2x1x5xi1>, tensor<1x2x1x5xf32>
  %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>
  %mx = stablehlo.reduce(%x init: %ninf) applies stablehlo.maximum across dimensions = [3] : (tensor<1x2x1x5xf32>, tensor<f32>) -> tensor<1x2x1xf32>
  %mb = stablehlo.broadcast_in_dim %mx, dims = [0, 1, 2] : (tensor<1x2x1xf32>) -> tensor<1x2x1x5xf32>
  %d = stablehlo.subtract %x, %mb : tensor<1x2x1x5xf32>
  %e = stablehlo.exponential %d : tensor<1x2x1x5xf32>
  %zero = stablehlo.constant dense<0.0> : tensor<f32>
  %sum = stablehlo.reduce(%e init: %zero) applies stablehlo.add across dimensions = [3] : (tensor<1x2x1x5xf32>, tensor<f32>) -> tensor<1x2x1xf32>
  %sb = stablehlo.broadcast_in_dim %sum, dims = [0, 1, 2] : (tensor<1x2x1xf32>) -> tensor<1x2x1x5xf32>
  %p = stablehlo.divide %e, %sb : tensor<1x2x1x5xf32>
  %y = stablehlo.dot_general %p, %v, batching_dims = [0, 1] x [0, 1], contracting_dims = [3] x [2] : (tensor<1x2x1x5xf32>, tensor<1x2x5x4xf32>) -> tensor<1x2x1x4xf32>
  return %y : tensor<1x2x1x4xf32>
}

// -----

// Not attention: the max is not constant along the reduced axis (a
// per-element shift), so the "softmax" is not one; nothing is raised.

// CHECK-LABEL: func.func @not_a_softmax
// CHECK: stablehlo.dot_general
// CHECK: stablehlo.exponential
// CHECK-NOT: hgc.attention
func.func @not_a_softmax(%q: tensor<2x4xf32>, %k: tensor<5x4xf32>, %v: tensor<5x4xf32>,
    %shift: tensor<2x5xf32>) -> tensor<2x4xf32> {
  %s = stablehlo.dot_general %q, %k, contracting_dims = [1] x [1] : (tensor<2x4xf32>, tensor<5x4xf32>) -> tensor<2x5xf32>
  %d = stablehlo.subtract %s, %shift : tensor<2x5xf32>
  %e = stablehlo.exponential %d : tensor<2x5xf32>
  %zero = stablehlo.constant dense<0.0> : tensor<f32>
  %sum = stablehlo.reduce(%e init: %zero) applies stablehlo.add across dimensions = [1] : (tensor<2x5xf32>, tensor<f32>) -> tensor<2xf32>
  %sb = stablehlo.broadcast_in_dim %sum, dims = [0] : (tensor<2xf32>) -> tensor<2x5xf32>
  %p = stablehlo.divide %e, %sb : tensor<2x5xf32>
  %y = stablehlo.dot_general %p, %v, contracting_dims = [1] x [0] : (tensor<2x5xf32>, tensor<5x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// Attention in a scan body (a layer of lax.scan): raised in place, the mask
// built from a position the loop carries unchanged.
// CHECK-LABEL: func.func @in_loop_body
// CHECK: stablehlo.while(%[[I:.*]] = %{{.*}}, %[[X:.*]] = %arg0)
// CHECK: } do {
// CHECK: hgc.attention %[[X]], %arg1, %arg2 mask(%{{.*}} : tensor<1x1x1x5xf32>)
// CHECK-NOT: stablehlo.exponential
// CHECK: stablehlo.return
func.func @in_loop_body(%q0: tensor<1x2x1x4xf32>, %k: tensor<1x2x5x4xf32>,
    %v: tensor<1x2x5x4xf32>, %pos: tensor<i32>) -> tensor<1x2x1x4xf32> {
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %r:2 = stablehlo.while(%iterArg = %c0, %iterArg_0 = %q0) : tensor<i32>, tensor<1x2x1x4xf32>
   cond {
    %c2 = stablehlo.constant dense<2> : tensor<i32>
    %lt = stablehlo.compare LT, %iterArg, %c2, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  } do {
    %s = stablehlo.dot_general %iterArg_0, %k, batching_dims = [0, 1] x [0, 1], contracting_dims = [3] x [3] : (tensor<1x2x1x4xf32>, tensor<1x2x5x4xf32>) -> tensor<1x2x1x5xf32>
    %iota = stablehlo.iota dim = 0 : tensor<5xi32>
    %pb = stablehlo.broadcast_in_dim %pos, dims = [] : (tensor<i32>) -> tensor<5xi32>
    %valid = stablehlo.compare LE, %iota, %pb, SIGNED : (tensor<5xi32>, tensor<5xi32>) -> tensor<5xi1>
    %m1 = stablehlo.broadcast_in_dim %valid, dims = [3] : (tensor<5xi1>) -> tensor<1x1x1x5xi1>
    %m = stablehlo.broadcast_in_dim %m1, dims = [0, 1, 2, 3] : (tensor<1x1x1x5xi1>) -> tensor<1x2x1x5xi1>
    %neg = stablehlo.constant dense<-1.0e30> : tensor<f32>
    %nb = stablehlo.broadcast_in_dim %neg, dims = [] : (tensor<f32>) -> tensor<1x2x1x5xf32>
    %x = stablehlo.select %m, %s, %nb : tensor<1x2x1x5xi1>, tensor<1x2x1x5xf32>
    %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>
    %mx = stablehlo.reduce(%x init: %ninf) applies stablehlo.maximum across dimensions = [3] : (tensor<1x2x1x5xf32>, tensor<f32>) -> tensor<1x2x1xf32>
    %mb = stablehlo.broadcast_in_dim %mx, dims = [0, 1, 2] : (tensor<1x2x1xf32>) -> tensor<1x2x1x5xf32>
    %d = stablehlo.subtract %x, %mb : tensor<1x2x1x5xf32>
    %e = stablehlo.exponential %d : tensor<1x2x1x5xf32>
    %zero = stablehlo.constant dense<0.0> : tensor<f32>
    %sum = stablehlo.reduce(%e init: %zero) applies stablehlo.add across dimensions = [3] : (tensor<1x2x1x5xf32>, tensor<f32>) -> tensor<1x2x1xf32>
    %sb = stablehlo.broadcast_in_dim %sum, dims = [0, 1, 2] : (tensor<1x2x1xf32>) -> tensor<1x2x1x5xf32>
    %p = stablehlo.divide %e, %sb : tensor<1x2x1x5xf32>
    %y = stablehlo.dot_general %p, %v, batching_dims = [0, 1] x [0, 1], contracting_dims = [3] x [2] : (tensor<1x2x1x5xf32>, tensor<1x2x5x4xf32>) -> tensor<1x2x1x4xf32>
    %c1 = stablehlo.constant dense<1> : tensor<i32>
    %next = stablehlo.add %iterArg, %c1 : tensor<i32>
    stablehlo.return %next, %y : tensor<i32>, tensor<1x2x1x4xf32>
  }
  return %r#1 : tensor<1x2x1x4xf32>
}
