"""What a task process sees in its environment: an allow-list of the server's variables, and the names
under which trigflow hands it its parameters.

The server's own environment holds secrets (`TRIGFLOW_SECRET_KEY`, a `TRIGFLOW_DB` URL with a password, cloud
credentials); copying it whole into every task handed them to any task author. A task therefore starts from
the few variables a program needs to behave (PATH, locale, time zone, home, user, temp dir), plus names the
operator adds with `trigflow up --task-env NAME`, plus the `TRIGFLOW_*`/`WEDATA_*` variables trigflow sets
itself. The server's `TRIGFLOW_*` variables are never copied and cannot be added.

Pure: the caller passes the environment to filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = [
    "ALLOWED_NAMES",
    "ALLOWED_PREFIXES",
    "PARAMS_FILE_ENV",
    "PARAM_ENV_PREFIX",
    "RESERVED_PREFIXES",
    "RUN_PARAMS_ENV",
    "VALUE_ENV_PREFIX",
    "check_extra_names",
    "param_env_name",
    "task_base_env",
]

ALLOWED_NAMES = frozenset(
    {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME", "SHELL", "TMPDIR", "TERM", "HOSTNAME"}
)
ALLOWED_PREFIXES = ("LC_",)  # LC_ALL, LC_CTYPE, ...
# Names the server uses for itself (secrets, database URL) or that trigflow sets per attempt: never copied.
RESERVED_PREFIXES = ("TRIGFLOW_", "WEDATA_")

PARAM_ENV_PREFIX = "TRIGFLOW_PARAM_"  # TRIGFLOW_PARAM_<name>: one per parameter whose name is an identifier
VALUE_ENV_PREFIX = "TRIGFLOW_VALUE_"  # TRIGFLOW_VALUE_<n>: a data value a shell script references by name
PARAMS_FILE_ENV = "TRIGFLOW_PARAMS_FILE"  # a 0600 JSON object of every parameter, whatever its size
RUN_PARAMS_ENV = "TRIGFLOW_RUN_PARAMS"  # the same JSON inline, when it is small enough for the environment

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_EXTRA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?\Z")


def param_env_name(name: str) -> str | None:
    """`TRIGFLOW_PARAM_<name>` when `name` can be part of an environment variable name, else None."""
    return PARAM_ENV_PREFIX + name if _IDENTIFIER.match(name) else None


def check_extra_names(names: Iterable[str]) -> tuple[str, ...]:
    """Validate `--task-env` names (an exact name, or a prefix ending in `*`); raise ValueError naming the bad one.

    `TRIGFLOW_*` and `WEDATA_*` are refused: they are the server's secrets or set by trigflow itself.
    """
    checked = []
    for name in names:
        if not _EXTRA_NAME.match(name):
            raise ValueError(f"--task-env {name!r}: expected a variable name, or a prefix ending in '*'")
        upper = name.upper()
        widens = upper.endswith("*") and any(p.startswith(upper[:-1]) for p in RESERVED_PREFIXES)
        if upper.startswith(RESERVED_PREFIXES) or widens:
            raise ValueError(f"--task-env {name!r}: TRIGFLOW_* and WEDATA_* variables are never passed to tasks")
        checked.append(name)
    return tuple(checked)


def task_base_env(environ: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """The part of the server's environment every task inherits: the allow-list plus operator-added names."""
    names = set(ALLOWED_NAMES)
    prefixes = list(ALLOWED_PREFIXES)
    for item in extra:
        if item.endswith("*"):
            prefixes.append(item[:-1])
        else:
            names.add(item)
    allowed = tuple(prefixes)
    return {
        k: v
        for k, v in environ.items()
        if (k in names or k.startswith(allowed)) and not k.upper().startswith(RESERVED_PREFIXES)
    }
