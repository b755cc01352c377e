"""What an SSH task (TaskTypeId 133) sends to the remote host, pure: the bootstrap program, the environment
file that carries parameter values as data, the kill and clean-up commands, and the host-key pins.

Why it is shaped this way (docs/task-types.md "SSH"):

* **Nothing of the task is in a command line.** The SSH exec request is the fixed `exec bash -s`; the
  program arrives on the channel's stdin. bash reads a program from a pipe one byte at a time (POSIX requires
  a shell not to read past the command it runs), so the program can be one `{ ... }` group whose heredocs
  write the task's script and environment into a fresh 0700 directory, and the rest of stdin stays unread.
  Values never appear in the remote `ps`, and there is no 128 KiB argument limit.
* **Data values stay data.** The script is the Shell dialect's rendering (data values are `${TRIGFLOW_...}`
  references, domain/code_quoting.py); the values themselves are assignments in an environment file that bash
  reads through `BASH_ENV` before the script, each quoted with `$'...'` (`quote`), which bash never
  parses as code. sshd's `AcceptEnv` usually refuses client-sent variables, so they cannot go as SSH env.
* **Its own process group.** The program enables job control (`set -m`), so the script starts as a
  background job in a process group of its own (pgid = its pid), with stdin from /dev/null; that works
  with any bash, without util-linux `setsid`. The pgid goes to `<dir>/pgid` and, as one marker line, to
  stderr, where the runner takes it out of the log.
* **Killed when trigflow lets go.** A watcher job reads the channel's stdin, which the runner keeps open: when
  it ends (the runner died, the connection dropped) the watcher sends TERM to the group, then KILL after the
  grace, and removes the directory. An explicit kill (`kill_command`, on a second channel) does the same.
* The script's exit status is the program's; afterwards `collect_command` prints the outputs file the
  script wrote (`$WEDATA_OUTPUT_FILE` = `<dir>/outputs`) and removes the directory.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "BOOTSTRAP_COMMAND",
    "KILL_GRACE_SECONDS",
    "OUTPUTS_MAX_BYTES",
    "RemoteEnv",
    "check_host_keys",
    "check_known_hosts",
    "collect_command",
    "env_file",
    "kill_command",
    "new_token",
    "parse_marker",
    "program",
    "quote",
]

# The exec request: the user's login shell replaces itself by bash reading the program from stdin.
BOOTSTRAP_COMMAND = "exec bash -s"
KILL_GRACE_SECONDS = 5  # TERM, then KILL: the default of `trigflow up --kill-grace`
OUTPUTS_MAX_BYTES = 64 << 20  # as much of $WEDATA_OUTPUT_FILE as the engine reads of a local one
_TOKEN = re.compile(r"[0-9a-f]{32}\Z")
_DIR = '"${TMPDIR:-/tmp}/trigflow-ssh-%s"'


def new_token() -> str:
    """128 random bits: names the attempt's remote directory and its heredoc delimiters and marker, so
    nothing the task writes can guess them."""
    return secrets.token_hex(16)


def _dir(token: str) -> str:
    if not _TOKEN.match(token):
        raise ValueError("the token must be 32 lower-case hex digits")
    return _DIR % token


_PLAIN = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !"#$%&()*+,-./:;<=>?@[]^_`{|}~')
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quote(value: str) -> str:
    """`value` as a bash ANSI-C string `$'...'`: on one line, and never parsed as code.

    Inside `$'...'` only a backslash escape or `'` is special: both are escaped, other control characters
    become `\\xHH`, anything else (UTF-8 text included) is kept literally. Raises ValueError for NUL, which a
    bash string cannot hold (such a value is left out, as for a local shell task's environment).
    """
    if "\0" in value:
        raise ValueError("a bash string cannot hold NUL")
    out = []
    for ch in value:
        if ch in _PLAIN:
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:  # a lone surrogate (undecodable input): its byte, if it was one
            code = ord(ch) - 0xDC00
            out.append(f"\\x{code:02x}" if 0x80 <= code <= 0xFF else "\\x3f")
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class RemoteEnv:
    """The variables the remote script gets: `exported` become its environment (and its children's);
    `plain` are only shell variables of the script (values too large for an environment, as locally)."""

    exported: Mapping[str, str]
    plain: Mapping[str, str]


def split_env(values: Mapping[str, str], value_bytes: int, total_bytes: int) -> RemoteEnv:
    """Which of `values` can be exported: each `NAME=value` within `value_bytes`, all within `total_bytes`
    (the remote kernel refuses every exec above its own limits, so the bounds of local tasks apply:
    service/attempt_params.py). Names that are not identifiers and values with NUL are dropped."""
    exported: dict[str, str] = {}
    plain: dict[str, str] = {}
    budget = total_bytes
    for name, value in values.items():
        if not _NAME.match(name) or "\0" in value:
            continue
        size = len(name) + len(value.encode("utf-8", "surrogateescape")) + 2
        if size <= value_bytes and size <= budget:
            exported[name] = value
            budget -= size
        else:
            plain[name] = value
    return RemoteEnv(exported, plain)


def env_file(env: RemoteEnv) -> str:
    """The `BASH_ENV` file: one assignment a line, then `unset BASH_ENV` so bash started by the script does
    not read it again."""
    lines = [f"export {name}={quote(value)}\n" for name, value in env.exported.items()]
    lines += [f"{name}={quote(value)}\n" for name, value in env.plain.items()]
    lines.append("unset BASH_ENV\n")
    return "".join(lines)


def _heredoc(target: str, body: str, delimiter: str) -> str:
    if not body.endswith("\n"):
        body += "\n"
    if delimiter in body.split("\n"):  # not reachable with a random token; the check keeps it so
        raise ValueError("the heredoc delimiter occurs in its body")
    return f"cat > {target} <<'{delimiter}'\n{body}{delimiter}\n"


def marker(token: str) -> str:
    return f"TRIGFLOW-SSH-{token} pgid="


def program(token: str, script: str, env: RemoteEnv, grace_seconds: int = KILL_GRACE_SECONDS) -> str:
    """The program bash reads from the channel's stdin (module docstring). `script` is the task's code with
    data values as references; `env` their values. The exit status is the script's (255: the remote
    directory could not be made)."""
    d = _dir(token)
    g = int(grace_seconds)
    return (
        "{\n"
        "umask 077\n"
        f"d={d}\n"
        'mkdir -- "$d" || exit 255\n'
        + _heredoc('"$d/env"', env_file(env), f"TRIGFLOW_ENV_{token}")
        + _heredoc('"$d/script"', script, f"TRIGFLOW_CODE_{token}")
        + "cd || :\n"
        "set -m\n"
        'WEDATA_OUTPUT_FILE="$d/outputs" BASH_ENV="$d/env" bash "$d/script" </dev/null &\n'
        "pg=$!\n"
        'printf \'%s\\n\' "$pg" > "$d/pgid"\n'
        f"printf '{marker(token)}%s\\n' \"$pg\" >&2\n"
        f'{{ IFS= read -r _; kill -TERM -- "-$pg"; sleep {g}; kill -KILL -- "-$pg"; rm -rf -- "$d"; }}'
        " <&0 >/dev/null 2>&1 &\n"
        "w=$!\n"
        'wait "$pg"; rc=$?\n'
        'kill -KILL -- "-$w" 2>/dev/null\n'
        'exit "$rc"\n'
        "}\n"
    )


def kill_command(token: str, grace_seconds: int = KILL_GRACE_SECONDS) -> str:
    """TERM the attempt's remote process group now; KILL it after the grace and remove its directory, from
    a detached job, so the escalation does not depend on the runner living that long. Prints the pgid
    (nothing when the group was never started)."""
    d = _dir(token)
    g = int(grace_seconds)
    return (
        f'd={d}; pg=$(cat -- "$d/pgid" 2>/dev/null) || exit 0; printf \'%s\\n\' "$pg"; '
        'kill -TERM -- "-$pg" 2>/dev/null; '
        f'{{ sleep {g}; kill -KILL -- "-$pg"; rm -rf -- "$d"; }} </dev/null >/dev/null 2>&1 &'
    )


def collect_command(token: str, max_bytes: int = OUTPUTS_MAX_BYTES) -> str:
    """Print (the first `max_bytes` of) the outputs file the script wrote, then remove the directory."""
    d = _dir(token)
    return f'd={d}; head -c {int(max_bytes)} -- "$d/outputs" 2>/dev/null; rm -rf -- "$d"'


def parse_marker(token: str, line: str) -> tuple[str, int | None]:
    """`line` of the remote stderr without the pgid marker, and the pgid if the marker was in it."""
    m = marker(token)
    at = line.find(m)
    if at < 0:
        return line, None
    rest = line[at + len(m) :]
    digits = re.match(r"[0-9]+", rest)
    if digits is None:
        return line, None
    tail = rest[digits.end() :]
    return line[:at] + (tail[1:] if tail.startswith("\n") else tail), int(digits.group())


# --- host keys ------------------------------------------------------------------------------------------

_KEY_TYPE = (
    r"(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
)
_KEY = _KEY_TYPE + r"(?:-cert-v01@openssh\.com)?[ \t]+[A-Za-z0-9+/]+={0,3}(?:[ \t]+[^\n]*)?"
_HOST_KEY_LINE = re.compile(_KEY)
_KNOWN_HOSTS_LINE = re.compile(r"(?:@(?:cert-authority|revoked)[ \t]+)?[^\s#@][^\s]*[ \t]+" + _KEY)


def _content_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def check_host_keys(text: str) -> str | None:
    """None when `text` is one or more OpenSSH public keys, a line each (`ssh-ed25519 AAAA... [comment]`,
    as in a `.pub` file or `ssh-keyscan` without the host); else the rule it breaks."""
    lines = _content_lines(text)
    if not lines:
        return "must hold at least one public key line (ssh-ed25519 AAAA...)"
    for n, line in enumerate(lines, 1):
        if not _HOST_KEY_LINE.fullmatch(line):
            return f"line {n} is not an OpenSSH public key (<type> <base64> [comment])"
    return None


def check_known_hosts(text: str) -> str | None:
    """None when `text` is known_hosts content (`<host patterns> <type> <base64>`, `@cert-authority` and
    `@revoked` lines, comments); else the rule it breaks."""
    lines = _content_lines(text)
    if not lines:
        return "must hold at least one known_hosts line (<host> <type> <base64>)"
    for n, line in enumerate(lines, 1):
        if not _KNOWN_HOSTS_LINE.fullmatch(line):
            return f"line {n} is not a known_hosts line (<host patterns> <type> <base64>)"
    return None
