"""`trigflow keys`: API key management on the server host, straight on the server's database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from trigflow.cli.server import settings_from_args


def cmd_keys(args: argparse.Namespace) -> int:
    from trigflow.app import build

    services = build(settings_from_args(args))
    keys = services.keys
    if args.keys_cmd == "create":
        key = keys.create(args.name or "")
        print(f"SecretId:  {key.secret_id}\nSecretKey: {key.secret_key}")
    elif args.keys_cmd == "list":
        for row in keys.list():
            state = "revoked" if row["revoked_ms"] else "active"
            print(f"{row['secret_id']}  {state:8}  uin={row['uin']}  name={row['name']}")
    else:
        if not keys.revoke(args.secret_id):
            print(f"no active key {args.secret_id}", file=sys.stderr)
            return 1
        print(f"revoked {args.secret_id}")
    return 0


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    keys = sub.add_parser("keys", help="manage API keys (on the server host)")
    ksub = keys.add_subparsers(dest="keys_cmd", required=True)
    kc = ksub.add_parser("create", help="create an admin API key and print it (the secret only now)")
    kc.add_argument("--name")
    kl = ksub.add_parser("list", help="list API keys (never their secrets)")
    kr = ksub.add_parser("revoke", help="revoke an API key")
    kr.add_argument("secret_id")
    for p in (kc, kl, kr):
        common(p)
    keys.set_defaults(func=cmd_keys, server_logging=True)
