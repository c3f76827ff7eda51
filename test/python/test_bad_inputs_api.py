"""The bad-input catalogue (bad_inputs.py) through libhgc's C API (raw
calls through ctypes: nulls, wrong sizes, released handles, concurrent
release) and the runtime's: each returns a non-zero status whose
hgc_last_error() / hgc_rt_last_error() line contains the catalogued
fragment."""
import pytest

import bad_inputs

CASES = [c for c in bad_inputs.CASES if "C API" in c["entry"]]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(tmp_path, case):
    hgc_jit = bad_inputs.jit()
    with pytest.raises(hgc_jit.Error) as error:
        case["make"](tmp_path)()
    assert "\n" not in str(error.value)
    assert case["expect"] in str(error.value)
