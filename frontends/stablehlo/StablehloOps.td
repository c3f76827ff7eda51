//===- StablehloOps.td - the StableHLO subset hgc imports --*- tablegen -*-===//
//
// A small dialect named `stablehlo` whose ops parse and print like the
// StableHLO project's, for the ops attention programs exported from JAX use.
// Both print forms are accepted: the pretty one (custom parsers in
// StablehloOps.cpp) and the generic one (properties named as upstream).
// Semantics follow the StableHLO specification; lowering to upstream
// dialects is in LowerStablehlo.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_FRONTENDS_STABLEHLO_OPS_TD
#define HGC_FRONTENDS_STABLEHLO_OPS_TD

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Shlo_Dialect : Dialect {
  let name = "stablehlo";
  let cppNamespace = "::mlir::hgc::shlo";
  let summary = "The StableHLO subset of attention programs, StableHLO's syntax";
  let useDefaultAttributePrinterParser = 1;
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

def Shlo_Precision : I32EnumAttr<"Precision", "dot precision", [
    I32EnumAttrCase<"DEFAULT", 0>, I32EnumAttrCase<"HIGH", 1>,
    I32EnumAttrCase<"HIGHEST", 2>]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::hgc::shlo";
}
def Shlo_PrecisionAttr : EnumAttr<Shlo_Dialect, Shlo_Precision, "precision"> {
  let assemblyFormat = "$value";
}

def Shlo_ComparisonDirection : I32EnumAttr<"ComparisonDirection",
    "comparison direction", [
    I32EnumAttrCase<"EQ", 0>, I32EnumAttrCase<"NE", 1>,
    I32EnumAttrCase<"GE", 2>, I32EnumAttrCase<"GT", 3>,
    I32EnumAttrCase<"LE", 4>, I32EnumAttrCase<"LT", 5>]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::hgc::shlo";
}
def Shlo_ComparisonDirectionAttr
    : EnumAttr<Shlo_Dialect, Shlo_ComparisonDirection, "comparison_direction"> {
  let assemblyFormat = "$value";
}

def Shlo_ComparisonType : I32EnumAttr<"ComparisonType", "comparison type", [
    I32EnumAttrCase<"NOTYPE", 0>, I32EnumAttrCase<"FLOAT", 1>,
    I32EnumAttrCase<"TOTALORDER", 2>, I32EnumAttrCase<"SIGNED", 3>,
    I32EnumAttrCase<"UNSIGNED", 4>]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::hgc::shlo";
}
def Shlo_ComparisonTypeAttr
    : EnumAttr<Shlo_Dialect, Shlo_ComparisonType, "comparison_type"> {
  let assemblyFormat = "$value";
}

def Shlo_DotDimensionNumbers : AttrDef<Shlo_Dialect, "DotDimensionNumbers"> {
  let mnemonic = "dot";
  let summary = "batching and contracting dimensions of a dot_general";
  let parameters = (ins
    OptionalArrayRefParameter<"int64_t">:$lhs_batching_dimensions,
    OptionalArrayRefParameter<"int64_t">:$rhs_batching_dimensions,
    OptionalArrayRefParameter<"int64_t">:$lhs_contracting_dimensions,
    OptionalArrayRefParameter<"int64_t">:$rhs_contracting_dimensions);
  // `<name = [..], ...>` with bracketed lists, empty ones omitted.
  let hasCustomAssemblyFormat = 1;
}

def Shlo_GatherDimensionNumbers
    : AttrDef<Shlo_Dialect, "GatherDimensionNumbers"> {
  let mnemonic = "gather";
  let summary = "how a gather's indices and slices map to its operand";
  let parameters = (ins
    OptionalArrayRefParameter<"int64_t">:$offset_dims,
    OptionalArrayRefParameter<"int64_t">:$collapsed_slice_dims,
    OptionalArrayRefParameter<"int64_t">:$operand_batching_dims,
    OptionalArrayRefParameter<"int64_t">:$start_indices_batching_dims,
    OptionalArrayRefParameter<"int64_t">:$start_index_map,
    "int64_t":$index_vector_dim);
  let hasCustomAssemblyFormat = 1;
}

def Shlo_ScatterDimensionNumbers
    : AttrDef<Shlo_Dialect, "ScatterDimensionNumbers"> {
  let mnemonic = "scatter";
  let summary = "how a scatter's indices and updates map to its operand";
  let parameters = (ins
    OptionalArrayRefParameter<"int64_t">:$update_window_dims,
    OptionalArrayRefParameter<"int64_t">:$inserted_window_dims,
    OptionalArrayRefParameter<"int64_t">:$input_batching_dims,
    OptionalArrayRefParameter<"int64_t">:$scatter_indices_batching_dims,
    OptionalArrayRefParameter<"int64_t">:$scatter_dims_to_operand_dims,
    "int64_t":$index_vector_dim);
  let hasCustomAssemblyFormat = 1;
}

def Shlo_DotAlgorithm : AttrDef<Shlo_Dialect, "DotAlgorithm"> {
  let mnemonic = "dot_algorithm";
  let summary = "precision types and accumulation of a dot_general";
  let parameters = (ins "Type":$lhs_precision_type, "Type":$rhs_precision_type,
    "Type":$accumulation_type, "int64_t":$lhs_component_count,
    "int64_t":$rhs_component_count, "int64_t":$num_primitive_operations,
    "bool":$allow_imprecise_accumulation);
  let hasCustomAssemblyFormat = 1;
}

//===----------------------------------------------------------------------===//
// Ops
//===----------------------------------------------------------------------===//

class Shlo_Op<string mnemonic, list<Trait> traits = []>
    : Op<Shlo_Dialect, mnemonic, traits> {
  let hasCustomAssemblyFormat = 1;
}

/// `stablehlo.op %a, %b : type` or `: (types) -> type`.
class Shlo_ElementwiseOp<string mnemonic, int arity, list<Trait> traits = []>
    : Shlo_Op<mnemonic, !listconcat(traits, [Pure])> {
  let results = (outs AnyRankedTensor:$result);
  let extraClassDefinition = [{
    ::mlir::ParseResult $cppClass::parse(::mlir::OpAsmParser &parser,
                                         ::mlir::OperationState &result) {
      return parseElementwise(parser, result, }] # arity # [{);
    }
    void $cppClass::print(::mlir::OpAsmPrinter &printer) {
      printElementwise(printer, getOperation());
    }
    ::mlir::LogicalResult $cppClass::verify() {
      return verifyElementwise(getOperation());
    }
  }];
  let hasVerifier = 1;
}

class Shlo_UnaryOp<string mnemonic> : Shlo_ElementwiseOp<mnemonic, 1> {
  let arguments = (ins AnyRankedTensor:$operand);
}
class Shlo_BinaryOp<string mnemonic> : Shlo_ElementwiseOp<mnemonic, 2> {
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs);
}

def Shlo_AddOp : Shlo_BinaryOp<"add">;
def Shlo_SubtractOp : Shlo_BinaryOp<"subtract">;
def Shlo_MultiplyOp : Shlo_BinaryOp<"multiply">;
def Shlo_DivideOp : Shlo_BinaryOp<"divide">;
def Shlo_MaximumOp : Shlo_BinaryOp<"maximum">;
def Shlo_MinimumOp : Shlo_BinaryOp<"minimum">;
def Shlo_PowerOp : Shlo_BinaryOp<"power">;
def Shlo_AndOp : Shlo_BinaryOp<"and">;
def Shlo_OrOp : Shlo_BinaryOp<"or">;
def Shlo_XorOp : Shlo_BinaryOp<"xor">;
def Shlo_RemainderOp : Shlo_BinaryOp<"remainder">;
def Shlo_Atan2Op : Shlo_BinaryOp<"atan2">;
def Shlo_ShiftLeftOp : Shlo_BinaryOp<"shift_left">;
def Shlo_ShiftRightArithmeticOp : Shlo_BinaryOp<"shift_right_arithmetic">;
def Shlo_ShiftRightLogicalOp : Shlo_BinaryOp<"shift_right_logical">;

def Shlo_ExpOp : Shlo_UnaryOp<"exponential">;
def Shlo_LogOp : Shlo_UnaryOp<"log">;
def Shlo_TanhOp : Shlo_UnaryOp<"tanh">;
def Shlo_LogisticOp : Shlo_UnaryOp<"logistic">;
def Shlo_NegOp : Shlo_UnaryOp<"negate">;
def Shlo_SqrtOp : Shlo_UnaryOp<"sqrt">;
def Shlo_RsqrtOp : Shlo_UnaryOp<"rsqrt">;
def Shlo_AbsOp : Shlo_UnaryOp<"abs">;
def Shlo_NotOp : Shlo_UnaryOp<"not">;
def Shlo_ConvertOp : Shlo_UnaryOp<"convert">;
def Shlo_CosineOp : Shlo_UnaryOp<"cosine">;
def Shlo_SineOp : Shlo_UnaryOp<"sine">;
def Shlo_TanOp : Shlo_UnaryOp<"tan">;
def Shlo_FloorOp : Shlo_UnaryOp<"floor">;
def Shlo_CeilOp : Shlo_UnaryOp<"ceil">;
def Shlo_RoundNearestEvenOp : Shlo_UnaryOp<"round_nearest_even">;
def Shlo_RoundNearestAfzOp : Shlo_UnaryOp<"round_nearest_afz">;
def Shlo_SignOp : Shlo_UnaryOp<"sign">;
def Shlo_Expm1Op : Shlo_UnaryOp<"exponential_minus_one">;
def Shlo_Log1pOp : Shlo_UnaryOp<"log_plus_one">;
def Shlo_CbrtOp : Shlo_UnaryOp<"cbrt">;
def Shlo_IsFiniteOp : Shlo_UnaryOp<"is_finite">;

def Shlo_SelectOp : Shlo_ElementwiseOp<"select", 3> {
  let arguments = (ins AnyRankedTensor:$pred, AnyRankedTensor:$on_true,
                   AnyRankedTensor:$on_false);
}

/// `clamp %min, %x, %max`: min and max rank 0 or of the operand's shape.
def Shlo_ClampOp : Shlo_ElementwiseOp<"clamp", 3> {
  let arguments = (ins AnyRankedTensor:$min, AnyRankedTensor:$operand,
                   AnyRankedTensor:$max);
}

//===----------------------------------------------------------------------===//
// Slices, concatenation, padding (StablehloSliceOps.cpp)
//===----------------------------------------------------------------------===//

def Shlo_ConcatenateOp : Shlo_Op<"concatenate", [Pure]> {
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, I64Attr:$dimension);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Shlo_SliceOp : Shlo_Op<"slice", [Pure]> {
  let arguments = (ins AnyRankedTensor:$operand,
                   DenseI64ArrayAttr:$start_indices,
                   DenseI64ArrayAttr:$limit_indices,
                   DenseI64ArrayAttr:$strides);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Shlo_DynamicSliceOp : Shlo_Op<"dynamic_slice", [Pure]> {
  let arguments = (ins AnyRankedTensor:$operand,
                   Variadic<AnyRankedTensor>:$start_indices,
                   DenseI64ArrayAttr:$slice_sizes);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Shlo_DynamicUpdateSliceOp : Shlo_Op<"dynamic_update_slice", [Pure]> {
  let arguments = (ins AnyRankedTensor:$operand, AnyRankedTensor:$update,
                   Variadic<AnyRankedTensor>:$start_indices);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Shlo_PadOp : Shlo_Op<"pad", [Pure]> {
  let arguments = (ins AnyRankedTensor:$operand,
                   AnyRankedTensor:$padding_value,
                   DenseI64ArrayAttr:$edge_padding_low,
                   DenseI64ArrayAttr:$edge_padding_high,
                   DenseI64ArrayAttr:$interior_padding);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

/// Generic form only, as JAX prints it (StablehloGather.cpp).
def Shlo_GatherOp : Op<Shlo_Dialect, "gather", [Pure]> {
  let arguments = (ins AnyRankedTensor:$operand,
                   AnyRankedTensor:$start_indices,
                   Shlo_GatherDimensionNumbers:$dimension_numbers,
                   DenseI64ArrayAttr:$slice_sizes,
                   DefaultValuedOptionalAttr<BoolAttr, "false">:$indices_are_sorted);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

/// One operand, generic form only, as JAX prints it (StablehloScatter.cpp).
def Shlo_ScatterOp : Op<Shlo_Dialect, "scatter", [Pure]> {
  let arguments = (ins AnyRankedTensor:$operand,
                   AnyRankedTensor:$scatter_indices,
                   AnyRankedTensor:$updates,
                   Shlo_ScatterDimensionNumbers:$scatter_dimension_numbers,
                   DefaultValuedOptionalAttr<BoolAttr, "false">:$indices_are_sorted,
                   DefaultValuedOptionalAttr<BoolAttr, "false">:$unique_indices);
  let results = (outs AnyRankedTensor:$result);
  let regions = (region SizedRegion<1>:$update_computation);
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Control flow and precision (StablehloControlFlow.cpp)
//===----------------------------------------------------------------------===//

/// `stablehlo.while(%iterArg = %init, ...) : types cond {..} do {..}`: the
/// loop JAX writes for lax.scan, fori_loop and while_loop.
def Shlo_WhileOp : Shlo_Op<"while", [RecursiveMemoryEffects,
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmBlockArgumentNames"]>]> {
  let arguments = (ins Variadic<AnyRankedTensor>:$operand);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$cond, SizedRegion<1>:$body);
  let hasVerifier = 1;
}

/// Branch `index` (the last one when out of range); generic form, as
/// JAX prints lax.cond and lax.switch.
def Shlo_CaseOp : Op<Shlo_Dialect, "case", [RecursiveMemoryEffects]> {
  let arguments = (ins 0DTensorOf<[I32]>:$index);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region VariadicRegion<SizedRegion<1>>:$branches);
  let hasVerifier = 1;
}

def Shlo_IfOp : Op<Shlo_Dialect, "if", [RecursiveMemoryEffects]> {
  let arguments = (ins 0DTensorOf<[I1]>:$pred);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$true_branch,
                 SizedRegion<1>:$false_branch);
  let hasVerifier = 1;
}

/// Its operands, unchanged (a scheduling hint to XLA).
def Shlo_OptimizationBarrierOp : Shlo_Op<"optimization_barrier", [Pure]> {
  let arguments = (ins Variadic<AnyRankedTensor>:$operand);
  let results = (outs Variadic<AnyRankedTensor>:$result);
  let hasVerifier = 1;
}

/// Rounds to a float format with `exponent_bits` and `mantissa_bits`.
def Shlo_ReducePrecisionOp : Shlo_Op<"reduce_precision", [Pure]> {
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$operand,
                   ConfinedAttr<I32Attr, [IntPositive]>:$exponent_bits,
                   ConfinedAttr<I32Attr, [IntNonNegative]>:$mantissa_bits);
  let results = (outs RankedTensorOf<[AnyFloat]>:$output);
  let hasVerifier = 1;
}

def Shlo_ConstantOp : Shlo_Op<"constant", [Pure]> {
  let arguments = (ins ElementsAttr:$value);
  let results = (outs AnyRankedTensor:$output);
}

def Shlo_IotaOp : Shlo_Op<"iota", [Pure]> {
  let arguments = (ins I64Attr:$iota_dimension);
  let results = (outs AnyRankedTensor:$output);
  let hasVerifier = 1;
}

def Shlo_ReshapeOp : Shlo_Op<"reshape", [Pure]> {
  let arguments = (ins AnyRankedTensor:$operand);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Shlo_TransposeOp : Shlo_Op<"transpose", [Pure]> {
  let arguments = (ins AnyRankedTensor:$operand, DenseI64ArrayAttr:$permutation);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Shlo_BroadcastInDimOp : Shlo_Op<"broadcast_in_dim", [Pure]> {
  let arguments = (ins AnyRankedTensor:$operand,
                   DenseI64ArrayAttr:$broadcast_dimensions);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Shlo_CompareOp : Shlo_Op<"compare", [Pure]> {
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs,
                   Shlo_ComparisonDirectionAttr:$comparison_direction,
                   OptionalAttr<Shlo_ComparisonTypeAttr>:$compare_type);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Shlo_DotGeneralOp : Shlo_Op<"dot_general", [Pure]> {
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs,
                   Shlo_DotDimensionNumbers:$dot_dimension_numbers,
                   OptionalAttr<TypedArrayAttrBase<Shlo_PrecisionAttr,
                                "precisions">>:$precision_config,
                   OptionalAttr<Shlo_DotAlgorithm>:$algorithm);
  let results = (outs AnyRankedTensor:$result);
  let hasVerifier = 1;
}

def Shlo_ReduceOp : Shlo_Op<"reduce", [Pure, SameVariadicOperandSize]> {
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs,
                   Variadic<AnyRankedTensor>:$init_values,
                   DenseI64ArrayAttr:$dimensions);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let hasVerifier = 1;
}

def Shlo_ReturnOp : Shlo_Op<"return", [Pure, Terminator]> {
  let arguments = (ins Variadic<AnyType>:$results);
}

def Shlo_CustomCallOp : Shlo_Op<"custom_call"> {
  let arguments = (ins Variadic<AnyType>:$inputs, StrAttr:$call_target_name,
                   OptionalAttr<BoolAttr>:$has_side_effect,
                   OptionalAttr<AnyAttr>:$backend_config,
                   OptionalAttr<AnyAttr>:$api_version,
                   OptionalAttr<ArrayAttr>:$called_computations,
                   OptionalAttr<ArrayAttr>:$operand_layouts,
                   OptionalAttr<ArrayAttr>:$result_layouts,
                   OptionalAttr<ArrayAttr>:$output_operand_aliases);
  let results = (outs Variadic<AnyType>:$results);
}

def Shlo_CompositeOp : Shlo_Op<"composite"> {
  let arguments = (ins Variadic<AnyType>:$inputs, StrAttr:$name,
                   DefaultValuedOptionalAttr<DictionaryAttr, "{}">:$composite_attributes,
                   FlatSymbolRefAttr:$decomposition,
                   DefaultValuedOptionalAttr<I32Attr, "0">:$version);
  let results = (outs Variadic<AnyType>:$results);
}

#endif // HGC_FRONTENDS_STABLEHLO_OPS_TD
