"""Opening paths in the task's own directory (executors/files.py), and CodeContent that is not base64."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from trigflow.domain.errors import InvalidParameterValue
from trigflow.executors.files import NotRegularFile, open_regular
from trigflow.service.tasks import _decode_code


def test_a_regular_file_opens_blocking(tmp_path: Path) -> None:
    fd = open_regular(str(tmp_path / "a.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        assert not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK  # safe to hand to a child as stdout
        assert os.stat(tmp_path / "a.log").st_mode & 0o777 == 0o600 & ~_umask()
    finally:
        os.close(fd)


@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_WRONLY | os.O_CREAT | os.O_APPEND, os.O_RDWR])
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, flags: int) -> None:
    fifo = tmp_path / "planted"
    os.mkfifo(fifo)
    with pytest.raises(OSError) as err:  # a writer gets ENXIO (no reader), a reader NotRegularFile
        open_regular(str(fifo), flags)
    assert isinstance(err.value, NotRegularFile) or err.value.errno == 6


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("secret")
    (tmp_path / "a.log").symlink_to(target)
    with pytest.raises(OSError):
        open_regular(str(tmp_path / "a.log"), os.O_WRONLY | os.O_APPEND)
    assert target.read_text() == "secret"


@pytest.mark.parametrize("code", ["é", "YWJj\u00e9", "\u0000", "not base64!"])
def test_code_content_that_is_not_base64_ascii_is_invalid_parameter_value(code: str) -> None:
    with pytest.raises(InvalidParameterValue, match="CodeContent must be base64"):
        _decode_code(code, "TriggerTaskConfiguration.CodeContent")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
