"""Talking to a PACS: find studies, pull one series, send results back (no Qt).

Two protocols behind one interface (:class:`viewer.pacs.client.PacsClient`):
classic DICOM networking with pynetdicom (:mod:`viewer.pacs.dimse`: C-ECHO, C-FIND,
C-GET, C-MOVE to our own storage listener, C-STORE) and DICOMweb with
dicomweb-client (:mod:`viewer.pacs.dicomweb`: QIDO-RS, WADO-RS, STOW-RS).
:func:`viewer.pacs.client.open_client` picks the one a node's address asks for.

- :mod:`viewer.pacs.nodes`: ``AET@host:port`` and ``http(s)://`` addresses, nodes
  saved by name, our own AE title and listener port.
- :mod:`viewer.pacs.credentials`: passwords from the environment or a prompt, never
  saved or logged.
- :mod:`viewer.pacs.staging`: a series arrives in a hidden folder and is renamed into
  place only once complete; cancel and failure leave nothing to open.
- :mod:`viewer.pacs.sending`: what goes back to the PACS, filed under the source study.

Every failure a user can act on is a :class:`viewer.pacs.errors.PacsError`, one line,
without patient names or IDs.
"""
