"""The size of the host a group's attempts run on, for GetResourceGroupMetrics (CpuNum, MemSize, DiskVolume).

Read once per process (a worker at start, sending it with every heartbeat; the server for its local groups):
os.cpu_count, the physical memory from sysconf, the size of the file system holding the data dir. `host_id`
(the machine id, else the host name) lets the server count two workers on one host once.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

HostFacts = dict[str, int | str | None]


def host_facts(data_dir: Path) -> HostFacts:
    try:
        mem: int | None = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        mem = None
    try:
        disk: int | None = shutil.disk_usage(data_dir).total
    except OSError:
        disk = None
    return {"host_id": _host_id(), "cpus": os.cpu_count(), "mem_bytes": mem, "disk_bytes": disk}


def _host_id() -> str:
    try:
        machine = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine = ""
    return machine or socket.gethostname()
