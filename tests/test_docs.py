"""The examples in the package docstring run as written."""

import doctest

import dnmf


def test_package_docstring_examples():
    result = doctest.testmod(dnmf)
    assert result.attempted > 0 and result.failed == 0
