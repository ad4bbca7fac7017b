"""PASS/FAIL lines for the Python parts of the e2e scripts.

tests/run.sh counts the lines; done() also exits 1 if a check failed,
for scripts that count failures by exit status.  Import with
    sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "e2e"))
    from pycheck import check, done
"""
import sys

failed = 0


def check(name, ok, why=""):
    """Print PASS name, or FAIL name: why (why may be any value)."""
    global failed
    if ok:
        print("PASS " + name)
    else:
        print("FAIL %s%s" % (name, ": %s" % (why,) if why else ""))
        failed = 1


def done():
    sys.exit(failed)
