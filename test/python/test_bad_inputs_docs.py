"""docs/bad-inputs.md is the catalogue's table (regenerate it with
`python test/python/bad_inputs.py`), and the catalogue has at least 50
cases."""
import bad_inputs


def test_table_matches_the_catalogue():
    assert len(bad_inputs.CASES) >= 50
    assert len({c["id"] for c in bad_inputs.CASES}) == len(bad_inputs.CASES)
    assert bad_inputs.DOC.read_text() == bad_inputs.render(), (
        "run: python test/python/bad_inputs.py")
