"""What every API-client subcommand shares: its flags, profile resolution, output and exit codes.

The exit codes below are an interface: scripts branch on them, docs/cli.md lists them (and a unit test
checks that list against EXIT_CODES).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

OK = 0
API_ERROR = 1  # the server refused the request (`Code: message`), or an operation it ran reported failure
USAGE = 2  # bad arguments, or no usable profile (argparse uses 2 as well)
UNREACHABLE = 3  # no API answer: connection refused, TLS or timeout, not an API server
RUN_FAILED = 4  # runs wait: the run ended FAILED
RUN_KILLED = 5  # runs wait: the run ended KILLED
RUN_SKIPPED = 6  # runs wait: the run ended SKIPED (concurrency policy)
TIMED_OUT = 7  # --timeout elapsed before the awaited state
INTERRUPTED = 130  # Ctrl-C

EXIT_CODES = {
    OK: "success (runs wait: the run ended SUCCESS)",
    API_ERROR: "the server refused the request (`Code: message` on stderr) or an operation reported failure",
    USAGE: "bad arguments, or no endpoint/key could be resolved",
    UNREACHABLE: "no API answer from the endpoint (connection, TLS, timeout)",
    RUN_FAILED: "runs wait: the run ended FAILED",
    RUN_KILLED: "runs wait: the run ended KILLED",
    RUN_SKIPPED: "runs wait: the run ended SKIPED",
    TIMED_OUT: "--timeout elapsed first",
    INTERRUPTED: "interrupted (Ctrl-C)",
}

RUN_TERMINAL = {"SUCCESS": OK, "FAILED": RUN_FAILED, "KILLED": RUN_KILLED, "SKIPED": RUN_SKIPPED}
TASK_TERMINAL = frozenset({"SUCCESS", "FAILED", "KILLED", "SKIP", "UPSTREAM_FAILED"})


class Failure(Exception):
    """A command's own failure: `Code: message` on stderr and `exit_code`."""

    def __init__(self, code: str, message: str, exit_code: int = API_ERROR) -> None:
        super().__init__(f"{code}: {message}")
        self.exit_code = exit_code


# Answers a long poll rides out once the server has answered: it is restarting (no answer) or busy.
TRANSIENT_CODES = frozenset({"RequestLimitExceeded", "ServiceUnavailable"})


class Patience:
    """Keeps a long poll (`runs wait`, `runs rerun`, `logs --follow`) alive across a server restart or a
    rate limit: once the server has answered, a transient failure is reported once on stderr and the
    poll goes on (bounded by the command's --timeout), instead of ending a wait a script may have been
    in for an hour. Before the first answer every failure ends the command, so a wrong endpoint or key
    still fails fast."""

    def __init__(self) -> None:
        self.answered = False
        self.failing = False

    def first(self, fn: Callable[[], T]) -> T:
        value = fn()
        self.answered = True
        return value

    def attempt(self, fn: Callable[[], T]) -> T | None:
        """`fn()`, or None after a transient failure (the caller polls again)."""
        from trigflow.client.api import ApiError

        try:
            value = fn()
        except ApiError as e:
            if not (self.answered and (e.network or e.code in TRANSIENT_CODES)):
                raise
            if not self.failing:
                print(f"trigflow: {e}; still trying", file=sys.stderr, flush=True)
                self.failing = True
            return None
        if self.failing:
            print("trigflow: the server answers again", file=sys.stderr, flush=True)
            self.failing = False
        self.answered = True
        return value


def add_client_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection (default: flags, then environment, then the profile file)")
    g.add_argument("--endpoint", help="API endpoint, e.g. http://127.0.0.1:8090 ($TRIGFLOW_ENDPOINT)")
    g.add_argument("--project", help="ProjectId ($TRIGFLOW_PROJECT_ID; default: the key's only project)")
    g.add_argument("--ca-bundle", metavar="PEM", help="CAs to trust for https, e.g. a self-signed server's "
                   "certificate ($TRIGFLOW_CA_BUNDLE)")  # fmt: skip
    g.add_argument("--profile", help="read tccli's ~/.tccli/PROFILE.credential/.configure ($TRIGFLOW_PROFILE)")
    g.add_argument("--data-dir", help="read DIR/client.json (default $TRIGFLOW_DATA_DIR or ~/.trigflow)")
    p.add_argument("--json", action="store_true", help="print the API response as JSON (for scripts)")


def client_command(fn: Callable[[Any, argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Resolve the profile, build the API client, run `fn`; map every failure to `Code: message` on
    stderr and a documented exit code, never a traceback (TRIGFLOW_DEBUG=1 shows one)."""

    def run(args: argparse.Namespace) -> int:
        from trigflow.client.api import Api, ApiError
        from trigflow.client.profile import ConfigError, resolve
        from trigflow.domain.errors import ApiError as DomainError

        try:
            config = resolve(endpoint=args.endpoint, project=args.project, ca_bundle=args.ca_bundle,
                             profile=args.profile, data_dir=args.data_dir, env=os.environ,
                             home=Path.home())  # fmt: skip
            return fn(Api(config), args)
        except ConfigError as e:
            return _fail(f"trigflow: {e}", USAGE)
        except ApiError as e:
            return _fail(str(e), UNREACHABLE if e.network else API_ERROR)
        except DomainError as e:  # a stored trigger the schedule code refuses (triggers next)
            return _fail(f"{e.code}: {e.message}", API_ERROR)
        except Failure as e:
            return _fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            return _fail("interrupted", INTERRUPTED)
        except BrokenPipeError:  # `trigflow runs list | head`
            _silence_stdout()
            return OK
        except Exception as e:
            if os.environ.get("TRIGFLOW_DEBUG"):
                raise
            return _fail(f"ClientError: {type(e).__name__}: {e} (TRIGFLOW_DEBUG=1 shows the traceback)", API_ERROR)

    return run


def _fail(text: str, code: int) -> int:
    print(text, file=sys.stderr, flush=True)
    return code


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def emit_json(doc: Any) -> None:
    """One JSON document on stdout: an SDK response model as the SDK serialises it, or plain data."""
    text = doc.to_json_string(indent=2) if hasattr(doc, "to_json_string") else json.dumps(doc, indent=2,
                                                                                          ensure_ascii=False)
    print(text, flush=True)


def as_dict(model: Any) -> Any:
    """An SDK model as the plain JSON data it was read from (every declared field, null where unset)."""
    return json.loads(model.to_json_string())


def polls(timeout: float | None, *, first: float = 0.1, most: float = 2.0) -> Iterator[float]:
    """Sleep-between-polls schedule: yields before each poll after the first, backing off from
    `first` to `most` seconds; stops (the caller then reports a timeout) once `timeout` has elapsed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = first
    yield 0.0
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            delay = min(delay, left)
        time.sleep(delay)
        yield delay
        delay = min(delay * 1.5, most)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value
