"""Competing CPU-bound processes for the benchmarks: `with busy(2): ...` runs two Python loops
beside the block and kills them after it."""
import contextlib
import subprocess
import sys


@contextlib.contextmanager
def busy(count):
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(count)]
    try:
        yield
    finally:
        for p in spinners:
            p.kill()
