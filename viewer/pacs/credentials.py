"""Where a DICOMweb password comes from: the environment, or asking the user.

Passwords are never saved (node settings hold the user name only) and never logged:
they live in a requests session's auth for as long as the client is open. Order:
``SPLEENSCOPE_PACS_PASSWORD``, else the caller's ``ask`` (the window shows a password
field; the CLI uses :func:`getpass.getpass` on a terminal), else a one-line error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from viewer.pacs.errors import PacsAuthenticationError
from viewer.pacs.nodes import Node

PASSWORD_VARIABLE = "SPLEENSCOPE_PACS_PASSWORD"

AskPassword = Callable[[Node], "str | None"]


def terminal_prompt(node: Node) -> str | None:
    """Ask on the terminal without echo; None when there is no terminal to ask on."""
    if not sys.stdin.isatty():
        return None
    import getpass

    return getpass.getpass(f"password for {node.username} at {node.label}: ")


def password_for(node: Node, ask: AskPassword | None = None) -> str | None:
    """The password for ``node``'s user, or None when the node has no user name."""
    if not node.username:
        return None
    password = os.environ.get(PASSWORD_VARIABLE)
    if password:
        return password
    if ask is not None:
        password = ask(node)
        if password:
            return password
    raise PacsAuthenticationError(
        f"{node.label} needs the password of user {node.username!r}: set "
        f"{PASSWORD_VARIABLE} or run from a terminal to be asked"
    )
