"""The Python examples of docs/python.md and README.md print what they show (as the docs test
does for the command line: only on AVX-512 kernels, whose sums the docs show)."""

import doctest
import pathlib

import pytest

import eot

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("page", ["docs/python.md", "README.md"])
def test_examples_print_what_the_page_shows(page):
    if eot.instruction_set() != "avx512":
        pytest.skip("the pages show what AVX-512 kernels print")
    failures, tried = doctest.testfile(
        str(ROOT / page), module_relative=False, report=True,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0
