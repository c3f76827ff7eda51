//===- AccuracyBench.cpp - hgc-bench accuracy -----------------------------===//

#include "AccuracyBench.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

int runAccuracyBench(const AccuracyBenchOptions &options) {
  std::string python = std::string(HGC_SOURCE_DIR) + "/.venv/bin/python";
  if (!llvm::sys::fs::exists(python)) {
    llvm::errs() << "hgc-bench: error: " << python
                 << " is missing: run scripts/setup.sh\n";
    return 1;
  }
  std::string script = std::string(HGC_SOURCE_DIR) + "/bench/accuracy.py";
  std::string windows = std::to_string(options.minilmWindows);
  llvm::SmallVector<llvm::StringRef> args = {python,
                                             script,
                                             "--build",
                                             options.buildDir,
                                             "--contexts",
                                             options.contexts,
                                             "--workloads",
                                             options.workloads,
                                             "--minilm-windows",
                                             windows};
  for (auto [flag, value] :
       {std::pair<llvm::StringRef, llvm::StringRef>{"--json", options.json},
        {"--markdown", options.markdown},
        {"--plot", options.plot}})
    if (!value.empty()) {
      args.push_back(flag);
      args.push_back(value);
    }
  std::string error;
  int rc =
      llvm::sys::ExecuteAndWait(python, args, std::nullopt, {}, 0, 0, &error);
  if (rc < 0)
    llvm::errs() << "hgc-bench: error: running " << script << ": " << error
                 << "\n";
  return rc == 0 ? 0 : 1;
}
