"""One notebook attempt on its kernel: nbclient drives the cells, the log follows their outputs as they
arrive, a cancel stops the kernel's process group, and the executed copy is kept.

Imported by trigflow.runner.notebook only once it has found nbclient, nbformat and jupyter_client, so an
attempt on a worker without the `notebook` extra fails with the install hint instead of an ImportError.

Why each choice:

* The kernel is started by jupyter_client in a session of its own (so an interrupt reaches it and its
  children, not the runner): a kill of the attempt's process group alone would miss it, so the runner
  signals that session itself on cancel, and SIGKILLs it when the attempt ends, so nothing a notebook
  started outlives its attempt. (The executor's cgroup or environment sweep is the backstop when the
  runner itself is SIGKILLed; ipykernel also exits within a second of its parent's death.)
* ipykernel copies what the kernel's own file descriptors receive (a subprocess's output) to its stdout and
  stderr as well as to the notebook, so those go to /dev/null and a pipe: the log would show every such line
  twice. The pipe's last few KiB are shown when the kernel dies or does not start.
* IPC sockets in a private 0700 directory: no TCP port on the machine for another user to knock on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import IO, Any, TextIO

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode

from trigflow.domain.notebook import (
    DEFAULT_KERNEL,
    NotebookSettings,
    cell_source,
    dump_notebook,
    inject_parameters,
)

EXIT_FAILED = 1
EXIT_CANCELLED = 143
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_FIRST_LINE_CHARS = 120
_STDERR_TAIL_BYTES = 4096
_TERM_GRACE_S = 0.5  # SIGTERM to the kernel's group, then SIGKILL: the executor's own grace is ~1 s or more
_SHUTDOWN_WAIT_S = 3.0  # a finished kernel asked to shut down; killed if it takes longer
_WATCH_POLL_S = 0.05
# ipykernel's own warnings (TCP without encryption, and the like) are not the notebook's output.
_OWN_KERNEL_FLAGS = ("--IPKernelApp.log_level=ERROR",)


def _quiet_logger() -> logging.Logger:
    """nbclient's and jupyter_client's own log lines (`Kernel died while waiting...`) would duplicate ours."""
    logger = logging.getLogger("trigflow.runner.notebook.jupyter")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    logger.setLevel(logging.CRITICAL + 1)
    return logger


class _Specs(KernelSpecManager):
    """`python3` is this interpreter's ipykernel (the server's venv), whatever kernel specs are installed."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        if kernel_name == DEFAULT_KERNEL:
            argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", *_OWN_KERNEL_FLAGS]
            return KernelSpec(argv=argv, display_name=f"Python 3 ({sys.executable})", language="python")
        return super().get_kernel_spec(kernel_name)


class _Log:
    """The attempt's log: output text as it comes, and `[trigflow]` lines always on a line of their own."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._at_line_start = True

    def text(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._out.write(text)
            self._out.flush()
            self._at_line_start = text.endswith("\n")

    def line(self, text: str) -> None:
        with self._lock:
            self._out.write(("" if self._at_line_start else "\n") + text + "\n")
            self._out.flush()
            self._at_line_start = True


def _size(content: Mapping[str, Any]) -> int:
    size = len(str(content.get("text", "")))
    size += sum(len(str(v)) for v in (content.get("data") or {}).values())
    return size + sum(len(str(t)) for t in content.get("traceback") or [])


class _Client(NotebookClient):
    """nbclient with the log fed from each output message and the executed notebook's outputs bounded."""

    execution: Execution

    def output(
        self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        self.execution.show(msg)
        kept = self.execution.kept(msg, outs)
        if kept is None:
            return None
        return super().output(outs, kept, display_id, cell_index)

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        await super().async_start_new_kernel(**kwargs)
        self.execution.kernel_started()


class Execution:
    """One attempt: the notebook, its parameters and settings, the log, the cancel event, where to keep it."""

    def __init__(
        self,
        notebook: dict[str, Any],
        params: Mapping[str, str],
        settings: NotebookSettings,
        log: TextIO,
        cancel: threading.Event,
        artifact_path: str | None,
        output_budget: int,
    ) -> None:
        self.notebook = notebook
        self.params = params
        self.settings = settings
        self.log = _Log(log)
        self.cancel = cancel
        self.artifact_path = artifact_path
        self.output_budget = output_budget
        self.kept_bytes = 0
        self.noted_cells: set[int] = set()
        self.cancelled = False
        self.finished = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.main: asyncio.Task[Any] | None = None
        self.km: AsyncKernelManager | None = None
        self.client: _Client | None = None
        self.stderr_tail: deque[bytes] = deque()
        self.cell: tuple[int, NotebookNode] | None = None  # the code cell running now (index, cell)
        self.cell_started = 0.0
        self.code_cells = 0
        self.failed_cells: list[int] = []

    # ------------------------------------------------------------------------------------------ the run

    def run(self) -> int:
        started = time.perf_counter()
        spec = self._kernel_spec()
        if spec is None:
            self._keep(self.notebook)
            return EXIT_FAILED
        notebook, notes = self._with_parameters(spec)
        nb: NotebookNode = nbformat.reads(dump_notebook(notebook), as_version=4)  # type: ignore[no-untyped-call]
        self.code_cells = sum(1 for c in nb.cells if c.cell_type == "code" and c.source.strip())
        self.log.line(
            f"[trigflow] notebook: {len(nb.cells)} cells ({self.code_cells} to run) on kernel "
            f"{self.settings.kernel_name} ({spec.argv[0]})"
        )
        for note in notes:
            self.log.text(note)
        watcher = threading.Thread(target=self._watch, name="notebook-cancel", daemon=True)
        watcher.start()
        workdir = tempfile.mkdtemp(prefix="trigflow-kernel-")  # 0700: the connection file holds the key
        try:
            code = asyncio.run(self._main(nb, workdir))
        except asyncio.CancelledError:  # a cancel that landed while the kernel was being shut down
            code = EXIT_CANCELLED
        finally:
            self.finished.set()
            self._signal_kernel(signal.SIGKILL)  # whatever the notebook left running in its session
            shutil.rmtree(workdir, ignore_errors=True)
        if code == 0:
            failed = f", {len(self.failed_cells)} raised (allowed)" if self.failed_cells else ""
            self.log.line(f"[trigflow] {self.code_cells} cells done in {_took(time.perf_counter() - started)}{failed}")
        self._keep(nb)
        return code

    def _kernel_spec(self) -> KernelSpec | None:
        name = self.settings.kernel_name
        specs = _Specs()
        try:
            return specs.get_kernel_spec(name)
        except NoSuchKernel:
            known = sorted({DEFAULT_KERNEL, *specs.find_kernel_specs()})
            self.log.line(f"[trigflow] no Jupyter kernel spec named {name!r} on this machine; kernelName may be "
                          f"one of: {', '.join(known)}")  # fmt: skip
            return None

    def _with_parameters(self, spec: KernelSpec) -> tuple[dict[str, Any], list[str]]:
        """The notebook with its parameters cell, and what the log says about it."""
        if not self.params:
            return self.notebook, []
        if spec.language.lower() != "python":
            return self.notebook, [f"[trigflow] kernel {self.settings.kernel_name} runs {spec.language}: no "
                                   "parameters cell is injected (read them from $TRIGFLOW_RUN_PARAMS)\n"]  # fmt: skip
        injection = inject_parameters(self.notebook, self.params)
        notes = []
        if injection.skipped:
            notes.append("[trigflow] not injected (not Python names; read them from $TRIGFLOW_RUN_PARAMS): "
                         + ", ".join(injection.skipped) + "\n")  # fmt: skip
        if injection.index is not None:
            where = "after the cell tagged parameters" if injection.after_tagged else "no cell is tagged parameters"
            cell = injection.notebook["cells"][injection.index]
            notes.append(f"[trigflow] parameters injected as cell {injection.index + 1} ({where}):\n")
            notes.append(cell_source(cell).split("\n", 1)[1])
        return injection.notebook, notes

    async def _main(self, nb: NotebookNode, workdir: str) -> int:
        self.loop = asyncio.get_running_loop()
        self.main = asyncio.current_task()
        km = AsyncKernelManager(
            kernel_name=self.settings.kernel_name,
            kernel_spec_manager=_Specs(),
            transport="ipc",
            ip=os.path.join(workdir, "kernel"),
            connection_file=os.path.join(workdir, "kernel.json"),
            shutdown_wait_time=_SHUTDOWN_WAIT_S,
            log=_quiet_logger(),
        )
        self.km = km
        client = _Client(
            nb,
            km=km,
            timeout=self.settings.cell_timeout_s,
            startup_timeout=self.settings.startup_timeout_s,
            allow_errors=self.settings.allow_errors,
            kernel_name=self.settings.kernel_name,
            record_timing=True,
            log=_quiet_logger(),
            on_cell_start=self._on_cell_start,
            on_cell_executed=self._on_cell_executed,
            on_cell_error=self._on_cell_error,
        )
        client.execution = self
        self.client = client
        ok = False
        try:
            if self.cancel.is_set():
                raise asyncio.CancelledError
            await client.async_execute(cwd=os.getcwd(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            ok = True
            return 0
        except (asyncio.CancelledError, DeadKernelError) as e:
            if self.cancelled or self.cancel.is_set():
                self.log.line(f"[trigflow] cancelled{self._while()}: the kernel and its process group were stopped")
                return EXIT_CANCELLED
            self.log.line(f"[trigflow] the kernel died{self._while()} ({type(e).__name__})")
            self._show_stderr()
            return EXIT_FAILED
        except CellTimeoutError:
            self.log.line(f"[trigflow] {self._cell_name()} timed out after {self.settings.cell_timeout_s} s "
                          "(cellTimeout); the kernel was stopped")  # fmt: skip
            return EXIT_FAILED
        except CellExecutionError as e:
            self.log.line(f"[trigflow] {self._cell_name()} failed: {e.ename}: {_first_line(str(e.evalue))}")
            return EXIT_FAILED
        except (RuntimeError, TimeoutError, OSError) as e:  # the kernel did not start or answer
            if self.cancel.is_set():
                self.log.line("[trigflow] cancelled while the kernel started")
                return EXIT_CANCELLED
            self.log.line(f"[trigflow] the kernel {self.settings.kernel_name} did not start: {_first_line(str(e))}")
            self._show_stderr()
            return EXIT_FAILED
        finally:
            await self._shutdown(graceful=ok and not self.cancel.is_set())

    async def _shutdown(self, graceful: bool) -> None:
        km, client = self.km, self.client
        if km is None:
            return
        with contextlib.suppress(Exception):
            if km.has_kernel and await ensure_async(km.is_alive()):
                await ensure_async(km.shutdown_kernel(now=not graceful))
        with contextlib.suppress(Exception):
            await ensure_async(km.cleanup_resources())
        if client is not None and client.kc is not None:
            with contextlib.suppress(Exception):
                client.kc.stop_channels()

    # ------------------------------------------------------------------------------------- cell hooks

    def _on_cell_start(self, cell: NotebookNode, cell_index: int) -> None:
        if cell.cell_type != "code" or not cell.source.strip():
            return
        self.cell = (cell_index, cell)
        self.cell_started = time.perf_counter()
        self.log.line(f"[trigflow] {self._cell_name()}: {_first_line(cell.source)}")

    def _on_cell_executed(self, cell: NotebookNode, cell_index: int, execute_reply: dict[str, Any]) -> None:
        status = (execute_reply or {}).get("content", {}).get("status", "ok")
        if status == "ok":
            self.log.line(f"[trigflow] {self._cell_name()} done in {_took(time.perf_counter() - self.cell_started)}")

    def _on_cell_error(self, cell: NotebookNode, cell_index: int, execute_reply: dict[str, Any]) -> None:
        self.failed_cells.append(cell_index)
        if self.settings.allow_errors or "raises-exception" in cell.metadata.get("tags", []):
            content = execute_reply.get("content", {})
            self.log.line(f"[trigflow] {self._cell_name()} raised {content.get('ename')} (allowed: the run goes on)")

    def _cell_name(self) -> str:
        if self.cell is None:
            return "the notebook"
        index, cell = self.cell
        cell_id = cell.get("id")
        return f"cell {index + 1}" + (f" (id {cell_id})" if cell_id else "")

    def _while(self) -> str:
        return f" while {self._cell_name()} ran" if self.cell is not None else " before any cell ran"

    # --------------------------------------------------------------------------------------- outputs

    def show(self, msg: Mapping[str, Any]) -> None:
        """What an output message puts into the log: the text a terminal would show."""
        kind = msg.get("msg_type")
        content: Mapping[str, Any] = msg.get("content") or {}
        if kind == "stream":
            self.log.text(_ANSI.sub("", str(content.get("text", ""))))
        elif kind in ("execute_result", "display_data"):
            data: Mapping[str, Any] = content.get("data") or {}
            plain = data.get("text/plain")
            if plain is not None:
                self.log.line(_ANSI.sub("", "".join(plain) if isinstance(plain, list) else str(plain)))
            others = [f"{m} ({_bytes(len(str(v)))})" for m, v in data.items() if m != "text/plain"]
            if others:
                self.log.line(f"[trigflow] {kind} also as {', '.join(others)}: kept in the executed notebook")
        elif kind == "error":
            lines = content.get("traceback") or [f"{content.get('ename')}: {content.get('evalue')}"]
            self.log.line(_ANSI.sub("", "\n".join(str(t) for t in lines)))

    def kept(self, msg: dict[str, Any], outs: list[NotebookNode]) -> dict[str, Any] | None:
        """What the executed notebook keeps of this output: all of it, the start of a stream's text, or nothing
        (bounded, so the notebook stays readable through the API; the log has everything)."""
        content: dict[str, Any] = msg.get("content") or {}
        size = _size(content)
        room = self.output_budget - self.kept_bytes
        if size <= room:
            self.kept_bytes += size
            return msg
        index = self.cell[0] if self.cell is not None else -1
        if index not in self.noted_cells:
            self.noted_cells.add(index)
            if msg.get("msg_type") == "stream" and room > 0:
                self.kept_bytes = self.output_budget
                start = str(content.get("text", ""))[:room]
                outs.append(_stream(str(content.get("name", "stdout")), start))
            note = (f"[trigflow] further output left out of the executed notebook: it keeps "
                    f"{_bytes(self.output_budget)} of outputs; the task's log has them\n")  # fmt: skip
            outs.append(_stream("stderr", note))
        return None

    # ------------------------------------------------------------------------------------ the kernel

    def kernel_started(self) -> None:
        provisioner = self.km.provisioner if self.km is not None else None
        process = getattr(provisioner, "process", None)
        pipe = getattr(process, "stderr", None)
        if pipe is not None:
            threading.Thread(target=self._read_stderr, args=(pipe,), name="kernel-stderr", daemon=True).start()
        if self.cancel.is_set():  # the cancel came while the kernel was being started
            self._signal_kernel(signal.SIGKILL)

    def _read_stderr(self, pipe: IO[bytes]) -> None:
        size = 0
        with contextlib.suppress(Exception):
            for chunk in iter(lambda: os.read(pipe.fileno(), 4096), b""):
                self.stderr_tail.append(chunk)
                size += len(chunk)
                while size > _STDERR_TAIL_BYTES and len(self.stderr_tail) > 1:
                    size -= len(self.stderr_tail.popleft())

    def _show_stderr(self) -> None:
        time.sleep(0.05)  # the reader thread drains what the dead kernel wrote last
        tail = b"".join(self.stderr_tail)[-_STDERR_TAIL_BYTES:].decode("utf-8", "replace").strip()
        if tail:
            self.log.line("[trigflow] the kernel's last words on stderr:")
            self.log.line(_ANSI.sub("", tail))

    def _kernel_group(self) -> int | None:
        provisioner = self.km.provisioner if self.km is not None else None
        pgid = getattr(provisioner, "pgid", None)
        if isinstance(pgid, int) and pgid > 1 and pgid != os.getpgrp():
            return pgid
        return None

    def _signal_kernel(self, signum: int) -> bool:
        pgid = self._kernel_group()
        if pgid is None:
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)
        return True

    def _watch(self) -> None:
        """On cancel: SIGTERM to the kernel's session, the main task cancelled, SIGKILL after a short grace."""
        while not self.cancel.wait(_WATCH_POLL_S):
            if self.finished.is_set():
                return
        if self.finished.is_set():
            return
        self.cancelled = True
        self.log.line("[trigflow] cancel requested: stopping the kernel and its process group")
        signalled = self._signal_kernel(signal.SIGTERM)
        loop, main = self.loop, self.main
        if loop is not None and main is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just closed
                loop.call_soon_threadsafe(main.cancel)
        if signalled and not self.finished.wait(_TERM_GRACE_S):
            self._signal_kernel(signal.SIGKILL)

    # ------------------------------------------------------------------------------- the executed copy

    def _keep(self, nb: Mapping[str, Any]) -> None:
        """Write the executed notebook next to the log (0600; never through a planted symlink or FIFO)."""
        path = self.artifact_path
        if path is None:
            return
        try:
            text = dump_notebook(nb).encode("utf-8", "surrogatepass")
            flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(path, flags, 0o600)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise OSError(f"{os.path.basename(path)} is not a regular file")
                os.ftruncate(fd, 0)
                os.fchmod(fd, 0o600)
                view = memoryview(text)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        except (OSError, ValueError, TypeError) as e:
            self.log.line(f"[trigflow] the executed notebook could not be kept: {e}")
            return
        self.log.line(f"[trigflow] executed notebook kept as {os.path.basename(path)} ({_bytes(len(text))})")


def _stream(name: str, text: str) -> NotebookNode:
    node: NotebookNode = nbformat.v4.new_output("stream", name=name, text=text)  # type: ignore[no-untyped-call]
    return node


def _first_line(text: str) -> str:
    stripped = text.strip()
    line = stripped.split("\n", 1)[0] if stripped else ""
    return line if len(line) <= _FIRST_LINE_CHARS else line[: _FIRST_LINE_CHARS - 1] + "…"


def _took(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _bytes(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"
