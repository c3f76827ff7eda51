# -*- Python -*-
# lit configuration for the hgc FileCheck suite. Python suites under
# test/python run under pytest, not lit.
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "HGC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "python",
                   "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.hgc_obj_root, "test")

llvm_config.with_system_environment(["HOME", "TMP", "TEMP"])
llvm_config.use_default_substitutions()
config.substitutions.append(("%hgc_src_root", config.hgc_src_root))
config.substitutions.append(("%hgc_obj_root", config.hgc_obj_root))
llvm_config.add_tool_substitutions(
    ["hgc", "hgc-opt", "hgc-runner"], [config.hgc_tools_dir, config.llvm_tools_dir])
# The project's virtual environment (numpy) for tests that make .npy files.
config.substitutions.append(
    ("%venv_python", os.path.join(config.hgc_src_root, ".venv", "bin", "python")))
