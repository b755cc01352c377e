"""Two servers starting on one host at once each keep their pids cgroups (executors/cgroups.py `_prepare`).

A starting server sweeps every instance dir under `trigflow/`: it removes the empty groups of servers that
are gone and then every empty instance dir. Another server starting at the same moment has just made its own
(still empty) instance dir, or its probe group in it, and lost it: it then ran without cgroups (no pids.max,
no kill of setsid descendants), silently. Found while making the suite run in parallel pytest-xdist workers,
which start servers concurrently; reproduced here with two start-ups racing in a private cgroup subtree (the
old code lost 12 to 15 of 800).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import pytest

from trigflow.executors import cgroups

ROUNDS = 400  # per racing start-up; each is a few syscalls (~0.5 s for both together)


@pytest.fixture
def private_base() -> Iterator[tuple[str, int]]:
    """A cgroup of our own under this process's pids cgroup, as the `base` two servers share; removed after."""
    tree = cgroups.detect(f"sweep-probe-{os.getpid()}", 64)
    if tree is None:
        pytest.skip("no writable pids cgroup on this host")
    base = os.path.join(os.path.dirname(os.path.dirname(tree.root)), f"tf-sweep-test-{os.getpid()}")
    tree.close()
    os.mkdir(base, 0o700)
    try:
        yield base, tree.version
    finally:
        for root, dirs, _files in os.walk(base, topdown=False):
            for d in dirs:
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(root, d))
        os.rmdir(base)


def test_two_servers_starting_at_once_both_get_their_cgroups(private_base: tuple[str, int]) -> None:
    base, version = private_base
    lost: dict[str, int] = {"a": 0, "b": 0}

    def start_ups(instance: str) -> None:
        for _ in range(ROUNDS):
            tree = cgroups._prepare(base, version, instance, 64)  # what detect() does once it found the mount
            if tree is None:
                lost[instance] += 1
            else:
                tree.close()

    threads = [threading.Thread(target=start_ups, args=(name,)) for name in lost]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert lost == {"a": 0, "b": 0}
