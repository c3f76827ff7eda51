//===- Bytecode.cpp - StableHLO artifacts JAX serializes, read as text ---===//
//
// `jax.export` writes a program as a StableHLO portable artifact (versioned
// VHLO bytecode, `Exported.mlir_module_serialized`) inside its own
// serialization (`Exported.serialize()`). Reading VHLO needs the StableHLO
// project, which does not build against released LLVM; jaxlib ships it.
// So a `.mlirbc` file is converted to text by jaxlib's own bindings, in the
// Python named by $HGC_PYTHON (else python3 on PATH), and parsed like any
// exported text. Without jax there, the error says how to get text.
//
//===----------------------------------------------------------------------===//

#include "frontends/stablehlo/Importer.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::hgc;

namespace {
/// argv[1]: the artifact, argv[2]: where the text goes. A portable
/// artifact starts with MLIR's bytecode magic; anything else is tried as
/// jax.export's serialization.
constexpr const char *kConvertScript = R"py(
import sys
data = open(sys.argv[1], "rb").read()
if data[:4] == b"ML\xefR":
    from jaxlib.mlir import ir
    from jaxlib.mlir.dialects import stablehlo
    with ir.Context() as context:
        stablehlo.register_dialect(context)
        text = stablehlo.deserialize_portable_artifact(context, data) \
            .operation.get_asm()
else:
    from jax import export
    text = export.deserialize(bytearray(data)).mlir_module()
open(sys.argv[2], "w").write(text)
)py";

/// The last non-empty line of `path` (a Python traceback's message).
std::string lastLine(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return "";
  StringRef text = (*buffer)->getBuffer().rtrim();
  return text.substr(text.rfind('\n') + 1).str();
}
} // namespace

bool shlo::isStablehloBytecodePath(StringRef path) {
  return path.ends_with(".mlirbc");
}

std::unique_ptr<llvm::MemoryBuffer>
shlo::readStablehloBytecode(StringRef path, std::string &error) {
  const char *override = std::getenv("HGC_PYTHON");
  std::string python = override && *override ? override : "";
  if (python.empty()) {
    auto found = llvm::sys::findProgramByName("python3");
    if (!found) {
      error = "reading StableHLO bytecode needs jax (jaxlib's StableHLO "
              "bindings) in a Python, and there is no python3 on PATH (set "
              "HGC_PYTHON), or export text: jax.jit(f).lower(...).as_text()";
      return nullptr;
    }
    python = *found;
  }
  SmallString<128> textPath, logPath;
  if (llvm::sys::fs::createTemporaryFile("hgc-stablehlo", "mlir", textPath) ||
      llvm::sys::fs::createTemporaryFile("hgc-stablehlo", "log", logPath)) {
    error = "cannot create a temporary file";
    return nullptr;
  }
  llvm::FileRemover removeText(textPath), removeLog(logPath);
  std::string input = path.str();
  SmallVector<StringRef> args = {python, "-c", kConvertScript, input, textPath};
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(logPath),
                                          StringRef(logPath)};
  std::string launchError;
  int status = llvm::sys::ExecuteAndWait(python, args, std::nullopt, redirects,
                                         /*SecondsToWait=*/300,
                                         /*MemoryLimit=*/0, &launchError);
  if (status != 0) {
    std::string why = launchError.empty() ? lastLine(logPath) : launchError;
    error = "could not convert StableHLO bytecode to text with jax in " +
            python + " (" + why +
            "): set HGC_PYTHON to a Python with jax, or export text: "
            "jax.jit(f).lower(...).as_text()";
    return nullptr;
  }
  auto text = llvm::MemoryBuffer::getFile(textPath);
  if (!text) {
    error = text.getError().message();
    return nullptr;
  }
  // Diagnostics name the artifact, not the temporary text.
  return llvm::MemoryBuffer::getMemBufferCopy((*text)->getBuffer(), path);
}
