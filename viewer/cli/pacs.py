"""``spleenscope pacs echo|find|get|send|save|nodes|identity``: talk to a PACS from the command line.

NODE is ``AET@host:port`` (DICOM networking), ``http(s)://[user@]host:port/path``
(DICOMweb) or the name of a node saved with ``pacs save``. A DICOMweb password comes
from ``SPLEENSCOPE_PACS_PASSWORD`` or is asked for on the terminal; it is never
saved. Output never holds patient names or IDs (the window's PACS browser shows
them); ``find --json`` prints one JSON object per study, or per series with
``--study``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--aet", default=None, help="our AE title (default: saved, else SPLEENSCOPE)"
    )
    common.add_argument(
        "--listen-port",
        type=int,
        default=None,
        help="port of our storage listener for C-MOVE (default: saved, else 11113)",
    )
    common.add_argument(
        "--insecure",
        action="store_true",
        help="accept a self-signed https certificate (test servers only)",
    )
    return common


def add_parser(subparsers) -> None:
    from viewer.cli.segment import one_line_usage_errors

    p = subparsers.add_parser(
        "pacs",
        help="find, retrieve and send DICOM with a PACS (DICOM networking or DICOMweb)",
        description="Find studies on a PACS, retrieve one series, send SEG/SR results back.",
    )
    one_line_usage_errors(p)
    actions = p.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)
    common = _common()
    node_help = "AET@host:port, http(s)://host:port/path, or a saved node name"

    echo = actions.add_parser("echo", parents=[common], help="test the connection")
    echo.add_argument("node", help=node_help)

    find = actions.add_parser("find", parents=[common], help="search studies, or a study's series")
    find.add_argument("node", help=node_help)
    find.add_argument("--patient-id", default="")
    find.add_argument("--patient-name", default="", help="wildcards * and ? allowed")
    find.add_argument("--study-date", default="", metavar="YYYYMMDD[-YYYYMMDD]")
    find.add_argument("--modality", default="", help="e.g. CT or MR")
    find.add_argument("--accession", default="", help="accession number")
    find.add_argument("--study", default="", metavar="UID", help="list this study's series")
    find.add_argument("--json", action="store_true", help="one JSON object per line")

    get = actions.add_parser("get", parents=[common], help="retrieve one series (or a study)")
    get.add_argument("node", help=node_help)
    get.add_argument("--study", required=True, metavar="UID")
    get.add_argument("--series", default=None, metavar="UID", help="default: every series")
    get.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    get.add_argument(
        "--method",
        choices=("get", "move", "wado"),
        default=None,
        help="C-GET (default for DICOM nodes), C-MOVE to our listener, or WADO-RS (DICOMweb)",
    )

    send = actions.add_parser("send", parents=[common], help="store DICOM files (SEG, SR)")
    send.add_argument("node", help=node_help)
    send.add_argument("paths", nargs="+", type=Path, metavar="PATH")

    save = actions.add_parser("save", help="save a node under a name")
    save.add_argument("name")
    save.add_argument("address", help="AET@host:port or http(s)://[user@]host:port/path")
    save.add_argument("--insecure", action="store_true", help="accept a self-signed certificate")

    actions.add_parser("nodes", help="list the saved nodes and our AE title")
    identity = actions.add_parser(
        "identity", help="save our AE title and C-MOVE listener port for later runs"
    )
    identity.add_argument("--aet", default=None, help="our AE title")
    identity.add_argument("--listen-port", type=int, default=None, help="our listener port")
    for action in actions.choices.values():
        one_line_usage_errors(action)
    p.set_defaults(run=run)


def _identity(args):
    from dataclasses import replace

    from viewer.pacs.nodes import check_ae_title, local_identity

    identity = local_identity()
    if getattr(args, "aet", None):
        identity = replace(identity, ae_title=check_ae_title(args.aet, "our AE title (--aet)"))
    if getattr(args, "listen_port", None) is not None:
        identity = replace(identity, listener_port=args.listen_port)
    return identity


def _client(args):
    from viewer.pacs.client import open_client
    from viewer.pacs.credentials import terminal_prompt
    from viewer.pacs.nodes import resolve_node

    node = resolve_node(args.node, insecure=args.insecure)
    return open_client(node, identity=_identity(args), ask_password=terminal_prompt)


def _progress_bar(description: str):
    from tqdm import tqdm

    bar = tqdm(
        total=None, unit="image", desc=description, file=sys.stderr, leave=False, disable=None
    )

    def progress(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return bar, progress


def _echo(args) -> int:
    import time

    with _client(args) as client:
        start = time.perf_counter()
        client.echo()
        print(f"{client.node.label}: answers ({(time.perf_counter() - start) * 1000:.0f} ms)")
    return 0


def _find(args) -> int:
    from viewer.pacs.records import StudyQuery

    with _client(args) as client:
        if args.study:
            series = client.find_series(args.study)
            if not series:
                from viewer.pacs.errors import SeriesNotFoundError

                raise SeriesNotFoundError(f"study {args.study} is not on {client.node.label}")
            for item in series:
                if args.json:
                    print(json.dumps(item.as_dict()), flush=True)
                else:
                    print(
                        f"{item.series_uid}  {item.modality:<3} "
                        f"{item.image_count if item.image_count is not None else '?':>5} images  "
                        f"{item.series_description}"
                    )
            return 0
        query = StudyQuery(
            patient_id=args.patient_id,
            patient_name=args.patient_name,
            study_date=args.study_date,
            modality=args.modality.upper(),
            accession_number=args.accession,
        )
        count = 0
        for study in client.iter_studies(query):
            count += 1
            if args.json:
                print(json.dumps(study.as_dict()), flush=True)
            else:
                print(
                    f"{study.study_uid}  {study.study_date or '-':<8}  "
                    f"{'/'.join(study.modalities) or '-':<6} "
                    f"{study.series_count if study.series_count is not None else '?'} series  "
                    f"{study.study_description}",
                    flush=True,
                )
        if count == 0 and not args.json:
            print("no studies match", file=sys.stderr)
    return 0


def _get(args) -> int:
    from viewer.pacs.errors import SeriesNotFoundError
    from viewer.pacs.staging import check_destination

    with _client(args) as client:
        if args.series:
            wanted = [args.series]
        else:
            wanted = [s.series_uid for s in client.find_series(args.study)]
            if not wanted:
                raise SeriesNotFoundError(
                    f"study {args.study} is not on {client.node.label} (moved or deleted?)"
                )
        for series_uid in wanted:
            check_destination(args.output / series_uid)  # before the progress bar shows
            bar, progress = _progress_bar("retrieving")
            try:
                folder = client.retrieve_series(
                    args.study, series_uid, args.output, method=args.method, progress=progress
                )
            finally:
                bar.close()
            print(f"{folder} ({sum(1 for _ in folder.iterdir())} images)")
    return 0


def _send(args) -> int:
    from viewer.pacs.sending import send

    with _client(args) as client:
        sent, notices = send(client, args.paths)
        for notice in notices:
            print(f"note: {notice}", file=sys.stderr)
        print(f"sent {sent} object(s) to {client.node.label}")
    return 0


def _save(args) -> int:
    from viewer.pacs.nodes import save_node

    node = save_node(args.name, args.address, insecure=args.insecure)
    print(f"saved {node.name}: {node.address} ({node.protocol})")
    return 0


def _nodes(args) -> int:
    from viewer.pacs.nodes import local_identity, saved_nodes

    identity = local_identity()
    print(f"our AE title {identity.ae_title}, C-MOVE listener port {identity.listener_port}")
    for name, node in sorted(saved_nodes().items()):
        flag = " (certificate not checked)" if node.insecure else ""
        print(f"{name}: {node.address} ({node.protocol}){flag}")
    return 0


def _save_identity(args) -> int:
    from viewer.pacs.nodes import save_local_identity

    identity = _identity(args)
    save_local_identity(identity)
    print(f"our AE title {identity.ae_title}, C-MOVE listener port {identity.listener_port}")
    return 0


def run(args: argparse.Namespace) -> int:
    handlers = {
        "echo": _echo,
        "find": _find,
        "get": _get,
        "send": _send,
        "save": _save,
        "nodes": _nodes,
        "identity": _save_identity,
    }
    return handlers[args.pacs_command](args)
