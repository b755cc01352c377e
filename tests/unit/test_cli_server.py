"""Pieces of `trigflow up` that decide what the first start writes for clients."""

from __future__ import annotations

import pytest

from trigflow.cli.server import _connect_host


@pytest.mark.parametrize(
    ("bound", "reached"),
    [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("", "127.0.0.1"), ("::", "[::1]"),
     ("::1", "[::1]"), ("10.0.0.5", "10.0.0.5"), ("example.org", "example.org")],
)  # fmt: skip
def test_client_file_names_an_address_a_local_client_can_reach(bound: str, reached: str) -> None:
    assert _connect_host(bound) == reached
