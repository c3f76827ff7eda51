// RUN: hgc-opt %s -split-input-file -hgc-lower-stablehlo -verify-diagnostics

func.func @custom(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{target 'mystery' is not supported}}
  %0 = stablehlo.custom_call @mystery(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @unsigned(%x: tensor<4xui32>) -> tensor<4xui32> {
  // expected-error @+1 {{has element type 'ui32', which hgc does not import (signless integers only)}}
  %0 = stablehlo.add %x, %x : tensor<4xui32>
  return %0 : tensor<4xui32>
}

// -----

func.func @reducer_body(%a: tensor<4xf32>, %i: tensor<f32>) -> tensor<f32> {
  %0 = stablehlo.reduce(%a init: %i) across dimensions = [0] : (tensor<4xf32>, tensor<f32>) -> tensor<f32>
   reducer(%x: tensor<f32>, %y: tensor<f32>) {
    // expected-error @+1 {{is not supported in a reducer}}
    %c = stablehlo.constant dense<1.0> : tensor<f32>
    stablehlo.return %c : tensor<f32>
  }
  return %0 : tensor<f32>
}
