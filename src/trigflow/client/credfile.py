"""The credentials file `trigflow up` writes on first start and the client reads by default.

One JSON object, owner-only (0600): `{"endpoint", "secretId", "secretKey", "projectId", "region"}`
(tccli's own key spelling for the pair). The server writes it instead of printing the generated
SecretKey to stdout, which is often a log file; on the same machine the client then needs no setup.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

CREDENTIALS_FILE = "client.json"


def write_credentials(
    path: Path, *, endpoint: str, secret_id: str, secret_key: str, project_id: str, region: str = "ap-guangzhou"
) -> None:
    """Write the file atomically with mode 0600 from the start (never briefly readable by others)."""
    doc = {"endpoint": endpoint, "secretId": secret_id, "secretKey": secret_key, "projectId": project_id,
           "region": region}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; ValueError naming the file when it is not one (OSError propagates)."""
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{path} is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return doc
