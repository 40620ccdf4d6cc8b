"""The ``spleenscope`` command: a thin layer that parses arguments and calls the library.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. Modules import their heavy dependencies inside ``run`` so that
``spleenscope info`` never loads torch and only ``view`` loads Qt.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from viewer.errors import SpleenScopeError

SUBCOMMANDS = ("info", "convert", "segment", "train", "evaluate", "view", "batch", "pacs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spleenscope",
        description="View CT/MR volumes in true geometry and segment the spleen.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"viewer.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except SpleenScopeError as error:
        if args.debug:
            raise
        print(f"spleenscope: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("spleenscope: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("spleenscope: error: out of memory; try a smaller volume", file=sys.stderr)
        return 2
