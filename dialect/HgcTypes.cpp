//===- HgcTypes.cpp - hgc types ------------------------------------------===//

#include "dialect/HgcDialect.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::hgc;

#define GET_TYPEDEF_CLASSES
#include "dialect/HgcTypes.cpp.inc"

void HgcDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialect/HgcTypes.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// KVCacheType
//===----------------------------------------------------------------------===//

// !hgc.kv_cache<KVHEADSxHEADDIMxELT[, page_size = N][, max_tokens = N]>
Type KVCacheType::parse(AsmParser &parser) {
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<int64_t, 2> dims;
  Type elementType;
  if (parser.parseLess() ||
      parser.parseDimensionList(dims, /*allowDynamic=*/false,
                                /*withTrailingX=*/true) ||
      parser.parseType(elementType))
    return {};
  if (dims.size() != 2) {
    parser.emitError(loc, "expected KV_HEADSxHEAD_DIMxTYPE, got ")
        << dims.size() << " dimension(s)";
    return {};
  }
  int64_t pageSize = 16, maxTokens = 0;
  bool seenPage = false, seenMax = false;
  while (succeeded(parser.parseOptionalComma())) {
    StringRef key;
    SMLoc keyLoc = parser.getCurrentLocation();
    if (parser.parseKeyword(&key) || parser.parseEqual())
      return {};
    bool *seen = key == "page_size"    ? &seenPage
                 : key == "max_tokens" ? &seenMax
                                       : nullptr;
    if (!seen) {
      parser.emitError(keyLoc, "unknown kv_cache parameter '")
          << key << "', expected 'page_size' or 'max_tokens'";
      return {};
    }
    if (*seen) {
      parser.emitError(keyLoc, "duplicate kv_cache parameter '") << key << "'";
      return {};
    }
    *seen = true;
    if (parser.parseInteger(key == "page_size" ? pageSize : maxTokens))
      return {};
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<KVCacheType>(loc, parser.getContext(), dims[0],
                                        dims[1], elementType, pageSize,
                                        maxTokens);
}

void KVCacheType::print(AsmPrinter &printer) const {
  printer << "<" << getKvHeads() << "x" << getHeadDim() << "x"
          << getElementType();
  if (getPageSize() != 16)
    printer << ", page_size = " << getPageSize();
  if (getMaxTokens() != 0)
    printer << ", max_tokens = " << getMaxTokens();
  printer << ">";
}

LogicalResult KVCacheType::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t kvHeads, int64_t headDim,
                                  Type elementType, int64_t pageSize,
                                  int64_t maxTokens) {
  if (kvHeads <= 0)
    return emitError() << "kv_cache needs a positive KV head count, got "
                       << kvHeads;
  if (headDim <= 0)
    return emitError() << "kv_cache needs a positive head dim, got " << headDim;
  if (!elementType.isF32() && !elementType.isF16() && !elementType.isBF16())
    return emitError() << "kv_cache element type must be f32, f16 or bf16, got "
                       << elementType;
  if (pageSize <= 0 || !llvm::isPowerOf2_64(pageSize))
    return emitError() << "kv_cache page_size must be a positive power of two, "
                          "got "
                       << pageSize;
  if (maxTokens < 0)
    return emitError() << "kv_cache max_tokens must be >= 0 (0 = unbounded), "
                          "got "
                       << maxTokens;
  return success();
}

int64_t KVCacheType::getBytesPerToken() const {
  return 2 * getKvHeads() * getHeadDim() *
         (getElementType().getIntOrFloatBitWidth() / 8);
}
