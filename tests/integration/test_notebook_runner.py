"""The Notebook runner (trigflow.runner.notebook) as executors start it, `python -m trigflow.runner WORKLOAD`,
on a real ipykernel, without a server: SIGTERM stopping the kernel by the runner's own hand, a worker without
the `notebook` extra, an unknown kernel, cellTimeout, a kernel that dies, allowErrors, the bound on kept
outputs, and a planted symlink where the executed notebook goes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import wait_for
from tests.integration.test_notebook_tasks import alive, cell, notebook, sleeper, with_marker
from trigflow.runner.notebook import INSTALL_HINT

SRC = str(Path(__file__).resolve().parents[2] / "src")


def workload(tmp_path: Path, code: str, config: dict[str, str] | None = None, **extra: Any) -> Path:
    path = tmp_path / f"workload-{uuid.uuid4().hex[:6]}.json"
    doc = {"taskTypeId": 132, "code": code, "params": {}, "config": config or {}, "limits": {},
           "artifactPath": str(tmp_path / "a.ipynb"), **extra}  # fmt: skip
    path.write_text(json.dumps(doc))
    return path


def start(tmp_path: Path, doc: Path, *flags: str) -> subprocess.Popen[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           "PYTHONPATH": SRC, "WEDATA_OUTPUT_FILE": str(tmp_path / "a.outputs")}  # the allow-list's kind  # fmt: skip
    return subprocess.Popen([sys.executable, *flags, "-m", "trigflow.runner", str(doc)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip


def run(tmp_path: Path, code: str, config: dict[str, str] | None = None, *flags: str, **extra: Any) -> tuple[int, str]:
    proc = start(tmp_path, workload(tmp_path, code, config, **extra), *flags)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out


def test_sigterm_stops_the_kernel_session_and_the_attempt_dies_of_it(tmp_path: Path) -> None:
    marker, pid_file = f"tf_nbr_{uuid.uuid4().hex[:10]}", tmp_path / "kernel.pid"
    proc = start(tmp_path, workload(tmp_path, sleeper(pid_file, marker)))
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text().isdigit() and with_marker(marker), timeout=60,
                 what="the cell running")  # fmt: skip
        kernel = int(pid_file.read_text())
        assert os.getsid(kernel) == kernel != os.getsid(proc.pid)  # its own session: a group kill would miss it
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # only the runner: nothing else signals the kernel here
        out, _ = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGTERM
    assert not alive(kernel) and not with_marker(marker)
    assert took < 5, took
    assert "[trigflow] cancel requested: stopping the kernel and its process group\n" in out
    assert "[trigflow] cancelled while cell 1 (id cell-1) ran: the kernel and its process group were stopped\n" in out
    assert json.loads((tmp_path / "a.ipynb").read_text())["cells"][0]["cell_type"] == "code"  # kept, partial


def test_without_the_notebook_extra_the_attempt_says_what_to_install(tmp_path: Path) -> None:
    code, out = run(tmp_path, notebook(cell("1")), None, "-S")  # -S: no site-packages, so no nbclient
    assert code == 1
    assert out == ("[trigflow] Notebook tasks need nbclient, nbformat, jupyter_client, ipykernel where they run, "
                   f"not installed here: {INSTALL_HINT}\n")  # fmt: skip


def test_an_unknown_kernel_is_named_with_the_ones_there_are(tmp_path: Path) -> None:
    code, out = run(tmp_path, notebook(cell("1")), {"kernelName": "no-such-kernel"})
    assert code == 1
    assert "[trigflow] no Jupyter kernel spec named 'no-such-kernel' on this machine; kernelName may be one of: " in out
    assert "python3" in out


def test_cell_timeout_fails_the_cell_that_took_too_long(tmp_path: Path) -> None:
    code, out = run(tmp_path, notebook(cell("print('quick')"), cell("import time\ntime.sleep(60)", id="slow")),
                    {"cellTimeout": "1"})  # fmt: skip
    assert code == 1, out
    assert "quick\n" in out
    assert "[trigflow] cell 2 (id slow) timed out after 1 s (cellTimeout); the kernel was stopped\n" in out


def test_a_kernel_that_dies_fails_the_attempt_saying_so(tmp_path: Path) -> None:
    code, out = run(tmp_path, notebook(cell("import os, sys\nprint('last words', file=sys.__stderr__, flush=True)\n"
                                            "os._exit(3)", id="exit")))  # fmt: skip
    assert code == 1, out
    assert "[trigflow] the kernel died while cell 1 (id exit) ran" in out


def test_allow_errors_runs_every_cell_and_succeeds(tmp_path: Path) -> None:
    book = notebook(cell("1/0", id="bad"), cell("raise KeyError('k')", id="tagged"), cell("print('after')"))
    code, out = run(tmp_path, book, {"allowErrors": "true"})
    assert code == 0, out
    assert "[trigflow] cell 1 (id bad) raised ZeroDivisionError (allowed: the run goes on)\n" in out
    assert "after\n" in out and "[trigflow] 3 cells done in " in out and ", 2 raised (allowed)\n" in out
    tagged = notebook(cell("1/0", id="bad", metadata={"tags": ["raises-exception"]}), cell("print('after')"))
    code, out = run(tmp_path, tagged)
    assert code == 0 and "after\n" in out, out


def test_outputs_kept_in_the_notebook_are_bounded_the_log_has_them_all(tmp_path: Path) -> None:
    book = notebook(cell("for i in range(50):\n    print('line', i, 'x' * 100)"))
    code, out = run(tmp_path, book, limits={"notebookOutputBytes": 1000})
    assert code == 0, out
    assert "line 49 " in out
    kept = json.loads((tmp_path / "a.ipynb").read_text())["cells"][0]["outputs"]
    text = "".join("".join(o["text"]) for o in kept)
    assert "line 0 " in text and "line 49 " not in text
    assert "[trigflow] further output left out of the executed notebook: it keeps 1000 B of outputs" in text


def test_a_planted_symlink_is_not_followed_when_the_notebook_is_kept(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "a.ipynb").symlink_to(victim)
    code, out = run(tmp_path, notebook(cell("print('ran')")))
    assert code == 0 and "ran\n" in out
    assert "[trigflow] the executed notebook could not be kept: " in out
    assert victim.read_text() == "precious"
