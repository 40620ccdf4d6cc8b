"""The PACS failures a user can act on, each a one-line :class:`SpleenScopeError`."""

from __future__ import annotations

from viewer.errors import SpleenScopeError


class PacsError(SpleenScopeError):
    """A PACS could not be reached or refused or failed a request."""


class NodeAddressError(PacsError):
    """A node address or saved node name is malformed or unknown."""


class PacsAuthenticationError(PacsError):
    """The node refused our credentials (or asked for some we did not give)."""


class RetrieveCancelled(PacsError):
    """The user cancelled a retrieve; nothing was left behind."""


class SeriesNotFoundError(PacsError):
    """The study or series is not (or no longer) on the node."""
