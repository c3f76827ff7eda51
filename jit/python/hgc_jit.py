"""The former name of hgc's Python binding, kept for existing code: the
module `hgc._jit` itself (its names and private helpers alike). New code
imports `hgc`."""
import sys

from hgc import _jit

sys.modules[__name__] = _jit
