#!/usr/bin/env python3
"""Checks that what README.md and docs/ show is what eot prints today.

Usage: tests/docs_check.py EOT_BINARY SOURCE_DIR

Every fenced block whose first line is `$ eot ...` or `$ build/apps/eot ...` (continued by a
trailing backslash) is a command and what it printed; every block of docs/sdpa-as-eot.md is
output of `eot demo sdpa`. Each command runs in a scratch copy of
data/ (README's from the copy's parent, with data/... paths; docs/cli.md's from data/examples),
and every line shown under it must appear in its output, in order (a block may show an
excerpt; "..." lines are skipped). Timings are not compared (see comparable()). Commands with a pipe are skipped. Exit 1 with the differences, 77 (skipped) where the kernels
in use are not AVX-512's (the docs show those; other levels round some sums differently),
else 0.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def blocks(text, implied=None):
    """(command, expected lines) for each command of each fenced block; a block without one is
    output of `implied`, if given."""
    out = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        lines = block.rstrip("\n").split("\n")
        if implied and not lines[0].startswith("$ "):
            lines = ["$ " + implied] + lines
        if not re.match(r"\$ (build/apps/)?eot ", lines[0]):
            continue
        command, expected = None, []
        k = 0
        while k < len(lines):
            line = lines[k]
            if line.startswith("$ "):
                if command:
                    out.append((command, expected))
                command, expected = line[2:], []
                while command.endswith("\\") and k + 1 < len(lines):
                    k += 1
                    command = command[:-1] + " " + lines[k].strip()
            else:
                expected.append(line)
            k += 1
        out.append((command, expected))
    return out


def comparable(lines):
    """The lines with their timings masked: a line that names a time, a number of seconds
    ("in 2.4e-05 s"), and the last column of a table headed "time (s)"."""
    out, timed_table = [], False
    for line in lines:
        line = line.rstrip()
        if "time (s)" in line:
            timed_table = True
        elif timed_table and line.startswith("  ") and re.search(r"[0-9.]+$", line):
            line = re.sub(r"[0-9.]+$", "#", line)
        if "time" in line and "time (s)" not in line:
            line = re.sub(r"[-+0-9.e]+", "#", line)
        out.append(re.sub(r"[-+0-9.e]+ s$", "# s", line))
    return out


def check(binary, command, expected, cwd):
    if "|" in command:
        return None
    shell = re.sub(r"^(build/apps/)?eot ", f"'{binary}' ", command)
    run = subprocess.run(["/bin/sh", "-c", shell], cwd=cwd, capture_output=True, text=True)
    actual = comparable((run.stdout + run.stderr).split("\n"))
    position = 0
    for line, want in zip(expected, comparable(expected)):
        if line.strip() in ("...", ""):
            continue
        while position < len(actual) and actual[position] != want:
            position += 1
        if position == len(actual):
            return f"$ {command}\n  shown:   {line}\n  printed:\n    " + "\n    ".join(
                (run.stdout + run.stderr).split("\n"))
        position += 1
    return None


def main():
    binary, source = os.path.abspath(sys.argv[1]), sys.argv[2]
    # The docs show runs of the AVX-512 kernels; other levels round some sums differently.
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    if "avx512" not in version:
        print(f"skipped: the docs show the AVX-512 kernels' output; this is {version.strip()}")
        return 77
    failures, count = [], 0
    with tempfile.TemporaryDirectory() as scratch:
        shutil.copytree(os.path.join(source, "data"), os.path.join(scratch, "data"))
        examples = os.path.join(scratch, "data", "examples")
        for doc, cwd, implied in (("README.md", scratch, None), ("docs/cli.md", examples, None),
                                  ("docs/sdpa-as-eot.md", scratch, "eot demo sdpa")):
            for command, expected in blocks(open(os.path.join(source, doc)).read(), implied):
                problem = check(binary, command, expected, cwd)
                count += 1
                if problem:
                    failures.append(f"{doc}: {problem}")
    for failure in failures:
        print(failure, end="\n\n")
    print(f"{count} commands shown in README.md and docs/, {len(failures)} differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
