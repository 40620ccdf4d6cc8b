"""PACS node addresses, nodes saved by name, and our own DICOM identity.

A node is written one of two ways:

- ``AET@host:port`` for classic DICOM networking (``ORTHANC@pacs.example.org:4242``);
- ``http(s)://[user@]host[:port]/path`` for DICOMweb (the path is the DICOMweb root,
  e.g. ``https://user@pacs.example.org/dicom-web``).

Either may also be the name of a node saved in ``pacs.json`` in the user's SpleenScope
folder (``SPLEENSCOPE_HOME`` overrides it). That file holds addresses, user names, the
per-node "accept a self-signed certificate" choice, our AE title and our listener
port, and never a password: an address carrying one is refused (see
:mod:`viewer.pacs.credentials` for where passwords come from).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from viewer.atomic import write_text_atomically
from viewer.pacs.errors import NodeAddressError

log = logging.getLogger(__name__)

SETTINGS_FILE = "pacs.json"
DEFAULT_AE_TITLE = "SPLEENSCOPE"
DEFAULT_LISTENER_PORT = 11113
_DIMSE_ADDRESS = re.compile(
    r"^(?P<aet>[^@]{1,16})@(?P<host>\[[^\]]+\]|[^:@\s]+):(?P<port>\d{1,5})$"
)
_NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Node:
    """Where a PACS is and how to talk to it (``protocol`` is "dimse" or "dicomweb")."""

    protocol: str
    address: str  # as the user writes it, without any password
    ae_title: str = ""
    host: str = ""
    port: int = 0
    url: str = ""  # DICOMweb root without user info
    username: str = ""
    insecure: bool = False  # accept a self-signed https certificate
    name: str = ""  # the saved name, when it came from the settings

    @property
    def label(self) -> str:
        """How messages name the node: its saved name, else its address."""
        return self.name or self.address


@dataclass(frozen=True)
class LocalIdentity:
    """Who we are on the network: our AE title and the port our listener takes for C-MOVE."""

    ae_title: str = DEFAULT_AE_TITLE
    listener_port: int = DEFAULT_LISTENER_PORT
    listener_host: str = ""  # all interfaces; a PACS must reach us to C-MOVE


def check_ae_title(title: str, what: str = "AE title") -> str:
    """A valid AE title (1-16 characters, no backslash or control characters) or an error."""
    if (
        not 1 <= len(title) <= 16
        or not title.strip()
        or any(c == "\\" or ord(c) < 32 or ord(c) > 126 for c in title)
    ):
        raise NodeAddressError(
            f"{what} {title!r} is not valid: use 1-16 printable ASCII characters, no backslash"
        )
    return title


def _check_port(port: int, text: str) -> int:
    if not 1 <= port <= 65535:
        raise NodeAddressError(f"{text}: the port must be between 1 and 65535")
    return port


def parse_address(text: str) -> Node:
    """A :class:`Node` from ``AET@host:port`` or a DICOMweb URL; one-line error otherwise."""
    text = text.strip()
    if text.lower().startswith(("http://", "https://")):
        return _parse_url(text)
    match = _DIMSE_ADDRESS.match(text)
    if match is None:
        raise NodeAddressError(
            f"{text!r} is not a PACS address: write AET@host:port (DICOM) or "
            "http(s)://host:port/path (DICOMweb), or the name of a saved node"
        )
    port = _check_port(int(match["port"]), text)
    aet = check_ae_title(match["aet"], "the node's AE title")
    host = match["host"].strip("[]")
    return Node("dimse", f"{aet}@{match['host']}:{port}", ae_title=aet, host=host, port=port)


def _parse_url(text: str) -> Node:
    parts = urlsplit(text)
    if parts.password is not None:
        raise NodeAddressError(
            "do not put a password in a PACS address (it would end up in shell history and "
            "settings); set SPLEENSCOPE_PACS_PASSWORD or let SpleenScope ask for it"
        )
    if not parts.hostname:
        raise NodeAddressError(f"{text!r}: the DICOMweb address has no host")
    try:
        port = parts.port
    except ValueError as error:
        raise NodeAddressError(f"{text!r}: {error}") from None
    if port is not None:
        _check_port(port, text)
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host + (f":{port}" if port is not None else "")
    url = urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))
    return Node(
        "dicomweb",
        text.rstrip("/"),
        host=parts.hostname,
        port=port or (443 if parts.scheme.lower() == "https" else 80),
        url=url,
        username=parts.username or "",
    )


def settings_path() -> Path:
    from segmentation.registry import base_dir  # torch-free; shares SPLEENSCOPE_HOME

    return base_dir() / SETTINGS_FILE


def _read() -> dict:
    path = settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.warning("ignoring unreadable PACS settings file %s: %s", path.name, error)
        return {}
    return data if isinstance(data, dict) else {}


def _write(data: dict) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def saved_nodes() -> dict[str, Node]:
    """The saved nodes by name (entries that no longer parse are skipped with a warning)."""
    nodes = {}
    for name, entry in (_read().get("nodes") or {}).items():
        try:
            node = parse_address(str(entry.get("address", "")))
        except (NodeAddressError, AttributeError):
            log.warning("ignoring saved PACS node %r: its address is not valid", name)
            continue
        nodes[name] = replace(node, name=name, insecure=bool(entry.get("insecure", False)))
    return nodes


def save_node(name: str, address: str, *, insecure: bool = False) -> Node:
    """Save (or replace) a node under ``name``; the address is checked first."""
    if not _NODE_NAME.match(name):
        raise NodeAddressError(
            f"{name!r} is not a usable node name: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    node = replace(parse_address(address), name=name, insecure=insecure)
    data = _read()
    data.setdefault("nodes", {})[name] = {"address": node.address, "insecure": insecure}
    _write(data)
    return node


def remove_node(name: str) -> None:
    data = _read()
    if (data.get("nodes") or {}).pop(name, None) is not None:
        _write(data)


def resolve_node(text: str, *, insecure: bool = False) -> Node:
    """A saved node by name, else an address. ``insecure`` switches certificate checks off."""
    saved = saved_nodes()
    if text in saved:
        node = saved[text]
    elif "@" not in text and "://" not in text and _NODE_NAME.match(text):
        known = ", ".join(sorted(saved)) or "none saved yet"
        raise NodeAddressError(
            f"no saved PACS node named {text!r} (saved: {known}); give AET@host:port or a URL"
        )
    else:
        node = parse_address(text)
    return replace(node, insecure=node.insecure or insecure)


def local_identity() -> LocalIdentity:
    """Our AE title and listener port from the settings, else the defaults."""
    data = _read()
    identity = LocalIdentity()
    try:
        title = check_ae_title(str(data.get("ae_title", identity.ae_title)), "our AE title")
        port = int(data.get("listener_port", identity.listener_port))
        _check_port(port, "our listener port")
    except (NodeAddressError, ValueError):
        log.warning("ignoring the AE title / listener port in %s: not valid", SETTINGS_FILE)
        return identity
    return replace(identity, ae_title=title, listener_port=port)


def save_local_identity(identity: LocalIdentity) -> None:
    check_ae_title(identity.ae_title, "our AE title")
    _check_port(identity.listener_port, "our listener port")
    data = _read()
    data.update(ae_title=identity.ae_title, listener_port=identity.listener_port)
    _write(data)
