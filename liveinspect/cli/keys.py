"""`liveinspect keys add|list|revoke`: API keys of the service (stored hashed) and their webhook secrets."""

from __future__ import annotations

import argparse
import json
import sys


def _store(args: argparse.Namespace):
    from liveinspect.serving.service import open_store

    return open_store(args.data, args.database)


def cmd_add(args: argparse.Namespace) -> int:
    new = _store(args).add_key(args.name)
    if args.json:
        print(
            json.dumps({"id": new.id, "name": new.name, "key": new.key, "webhook_secret": new.webhook_secret})
        )
    else:
        print(f"API key for {new.name} (shown once; only its hash is stored):\n  {new.key}")
        print(f"webhook signing secret (verify callbacks with it):\n  {new.webhook_secret}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    rows = _store(args).list_keys()
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        state = "revoked" if row["revoked_at"] else "active"
        print(f"{row['id']}  {row['name']:20s} {row['prefix']}…  {state}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    count = _store(args).revoke_key(args.name)
    if not count:
        print(f"liveinspect: error: no active key named {args.name!r}", file=sys.stderr)
        return 2
    print(f"revoked {count} key(s)", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="manage the service's API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    for name, func, helptext in (
        ("add", cmd_add, "make a key and its webhook secret; prints them once"),
        ("list", cmd_list, "list keys (never the keys themselves)"),
        ("revoke", cmd_revoke, "revoke a key by name or id"),
    ):
        action = actions.add_parser(name, help=helptext)
        if name != "list":
            action.add_argument("name", help="who the key is for" if name == "add" else "key name or id")
        action.add_argument("--data", required=True, help="the service's data folder")
        action.add_argument("--database", help="postgresql:// URL when the service uses PostgreSQL")
        action.add_argument("--json", action="store_true", help="machine-readable output")
        action.set_defaults(func=func)
