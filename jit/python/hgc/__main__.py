"""`python -m hgc ...` (and the `hgc` command a wheel installs): the hgc
driver binary shipped in the package, with the same arguments."""
import os
import pathlib
import sys


def main():
    driver = pathlib.Path(__file__).resolve().parent / "bin" / "hgc"
    if not driver.exists():
        sys.exit(f"hgc: this installation has no driver binary ({driver}); "
                 "build the tree and run build/bin/hgc")
    os.execv(driver, [str(driver), *sys.argv[1:]])


if __name__ == "__main__":
    main()
