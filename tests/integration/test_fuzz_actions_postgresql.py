"""test_fuzz_actions.py's tests on PostgreSQL: the same test functions, with a `target` server on a throw-away
PostgreSQL schema instead of SQLite (the module docstring there says what is checked and why on both).

A file of its own only for wall time: each half runs for minutes, and pytest-xdist (`make test`: --dist loadfile)
runs one file in one worker, so as two files the halves run in two workers at once. Every `test_*` of the SQLite
module is taken over as it is (none is listed here, so a new one cannot be forgotten).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration import test_fuzz_actions as _sqlite_half
from tests.integration.test_fuzz_actions import Target, fuzz_target

globals().update({name: test for name, test in vars(_sqlite_half).items() if name.startswith("test_")})


@pytest.fixture(scope="module", params=["postgresql"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    yield from fuzz_target(request.param, tmp_path_factory)
