"""`liveinspect train TASK --data PATH --out DIR [...]`; wired into liveinspect.cli by `register`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from liveinspect.training import claims

    train = subparsers.add_parser("train", help="train a model from a local dataset")
    tasks = train.add_subparsers(dest="task", required=True, metavar="TASK")
    claim_parser = tasks.add_parser("claims", help="the character n-gram claim classifier",
                                    description=claims.__doc__.split("\n\n")[0])
    claims.add_arguments(claim_parser)
    claim_parser.set_defaults(func=claims.run)
