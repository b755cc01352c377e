"""`trigflow` command line.

Server side (on the server host, straight on its data dir): `up` runs the server, `keys` manages API
keys. Client side (from any machine with an endpoint and a key, signed through the official SDK):
`runs`, `logs`, `triggers`; see docs/cli.md. The entry point `trigflow.cli:main` and
`python -m trigflow.cli` both land in `main`.
"""

from __future__ import annotations

import argparse
import logging

from trigflow import __version__


def _server_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="state directory (default ~/.trigflow, or $TRIGFLOW_DATA_DIR)")
    p.add_argument("--db", help="database URL (default: SQLite in the data dir; e.g. postgresql+psycopg://...)")


def build_parser() -> argparse.ArgumentParser:
    from trigflow.cli import admin, attempt, logs, runs, server, triggers, worker

    parser = argparse.ArgumentParser(prog="trigflow", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--version", action="version", version=f"trigflow {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    server.add_parser(sub, _server_flags)
    admin.add_parser(sub, _server_flags)
    runs.add_parser(sub)
    logs.add_parser(sub)
    triggers.add_parser(sub)
    attempt.add_parser(sub)
    worker.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "server_logging", False):
        logging.basicConfig(
            level=getattr(logging, str(getattr(args, "log_level", "info")).upper()),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        logging.getLogger("alembic").setLevel(logging.WARNING)
    return int(args.func(args))
