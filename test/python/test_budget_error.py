"""With a partial budget, HGCA's error falls as the budget grows.

Structured KV (sinks, recent window, heavy hitters; bench/budget_error.py);
the measured curve is in docs/budget-error.md. Monotone within noise: each
error at most 2% above the previous one, and the keep-all budget exact.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))
import budget_error  # noqa: E402


def test_error_falls_with_budget(hgc_runner):
    errors = budget_error.measure(hgc_runner, context=2048)
    values = [error for _, error in errors]
    for previous, current in zip(values, values[1:]):
        assert current <= previous * 1.02 + 1e-7, errors
    assert values[0] > 10 * values[-2] or values[0] > 0.05, errors
    assert values[-1] < 1e-4, errors
