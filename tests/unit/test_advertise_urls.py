"""Where payloads tell workers to report without --advertise-url (app.default_advertise_urls): only an address
another host can reach, with the server's scheme. The cross-host reason is tested for real in
tests/integration/test_cross_host.py (a worker's token sent to its own host's loopback)."""

from __future__ import annotations

import pytest

from trigflow.app import default_advertise_urls
from trigflow.config import Settings


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]", "0.0.0.0", "::", ""])
def test_a_loopback_or_wildcard_bind_names_no_url(host: str) -> None:
    assert default_advertise_urls(Settings(host=host, port=8090)) == ()


@pytest.mark.parametrize(
    ("host", "tls", "url"),
    [
        ("10.1.2.3", False, "http://10.1.2.3:8090"),
        ("10.1.2.3", True, "https://10.1.2.3:8090"),
        ("fd00::2", False, "http://[fd00::2]:8090"),
        ("server.example", True, "https://server.example:8090"),
    ],
)
def test_a_reachable_bind_is_named_with_the_servers_scheme(host: str, tls: bool, url: str) -> None:
    settings = Settings(host=host, port=8090, tls_cert="/c.pem" if tls else None, tls_key="/k.pem" if tls else None)
    assert default_advertise_urls(settings) == (url,)
