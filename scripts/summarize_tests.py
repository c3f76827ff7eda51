#!/usr/bin/env python3
"""Adds up JUnit XML reports from every suite into one closing line.

A report that is missing or unreadable counts as a failed suite, so a runner
that crashed before writing results can never look green.
"""
import sys
import xml.etree.ElementTree as ET


def count(path):
    """Returns (passed, failed, skipped) for one JUnit XML file."""
    root = ET.parse(path).getroot()
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("status") in (
                "notrun", "disabled"):
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(paths):
    totals = [0, 0, 0]
    broken = 0
    for path in paths:
        try:
            suite = count(path)
        except (OSError, ET.ParseError) as error:
            print(f"summary: {path}: no readable report ({error})")
            broken += 1
            continue
        print(f"summary: {path}: {suite[0]} passed, {suite[1]} failed, "
              f"{suite[2]} skipped")
        totals = [a + b for a, b in zip(totals, suite)]
    totals[1] += broken
    print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if totals[1] or totals[0] == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
