"""The bad-input catalogue (bad_inputs.py) through the Python wrapper
(hgc_jit): each raises hgc_jit.Error or ValueError with one line containing
the catalogued fragment."""
import pytest

import bad_inputs

CASES = [c for c in bad_inputs.CASES if c["entry"] == "Python"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(tmp_path, case):
    hgc_jit = bad_inputs.jit()
    with pytest.raises((hgc_jit.Error, ValueError)) as error:
        case["make"](tmp_path)()
    assert "\n" not in str(error.value)
    assert case["expect"] in str(error.value)
