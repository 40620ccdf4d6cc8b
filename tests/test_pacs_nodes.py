"""Node addresses, saved nodes and passwords: what a user types and what is kept on disk."""

from __future__ import annotations

import json

import pytest

from tests.pacs_support import pacs_home  # noqa: F401 (fixture)
from viewer.pacs import credentials
from viewer.pacs.errors import NodeAddressError, PacsAuthenticationError, PacsError
from viewer.pacs.nodes import (
    LocalIdentity,
    local_identity,
    parse_address,
    resolve_node,
    save_local_identity,
    save_node,
    saved_nodes,
    settings_path,
)
from viewer.pacs.records import StudyQuery


def test_dimse_address_gives_ae_title_host_and_port():
    node = parse_address("ORTHANC@pacs.example.org:4242")
    assert (node.protocol, node.ae_title, node.host, node.port) == (
        "dimse", "ORTHANC", "pacs.example.org", 4242,
    )  # fmt: skip
    assert parse_address("A B@[::1]:104").host == "::1"


def test_dicomweb_address_keeps_user_and_drops_it_from_the_url():
    node = parse_address("https://alice@pacs.example.org:8443/dicom-web/")
    assert node.protocol == "dicomweb"
    assert node.url == "https://pacs.example.org:8443/dicom-web"
    assert node.username == "alice"
    assert parse_address("http://host/dicom-web").port == 80


@pytest.mark.parametrize(
    "text, says",
    [
        ("pacs.example.org:4242", "not a PACS address"),
        ("THIS_TITLE_IS_TOO_LONG@host:104", "not a PACS address"),
        ("AE\\X@host:104", "not valid"),
        ("AE@host:70000", "between 1 and 65535"),
        ("https://alice:secret@host/dicom-web", "do not put a password"),
    ],
)
def test_bad_addresses_get_one_line_reasons(text, says):
    with pytest.raises(NodeAddressError) as error:
        parse_address(text)
    assert says in str(error.value) and "\n" not in str(error.value)
    assert "secret" not in str(error.value)


def test_saved_nodes_hold_no_password_and_resolve_by_name(pacs_home):  # noqa: F811
    save_node("archive", "https://alice@pacs.example.org/dicom-web", insecure=True)
    save_node("modality", "ORTHANC@127.0.0.1:4242")
    text = settings_path().read_text()
    assert "correct-horse-battery" not in text and "password" not in text.lower()
    node = resolve_node("archive")
    assert (node.name, node.username, node.insecure) == ("archive", "alice", True)
    assert resolve_node("modality").port == 4242
    assert sorted(saved_nodes()) == ["archive", "modality"]
    with pytest.raises(NodeAddressError, match="no saved PACS node named 'elsewhere'"):
        resolve_node("elsewhere")


def test_our_identity_is_saved_and_checked(pacs_home):  # noqa: F811
    assert local_identity() == LocalIdentity()
    save_local_identity(LocalIdentity(ae_title="READING1", listener_port=11200))
    assert local_identity().ae_title == "READING1"
    assert json.loads(settings_path().read_text())["listener_port"] == 11200
    with pytest.raises(NodeAddressError):
        save_local_identity(LocalIdentity(ae_title="", listener_port=11200))


def test_password_comes_from_the_environment_or_the_caller(pacs_home, monkeypatch):  # noqa: F811
    node = parse_address("http://alice@host/dicom-web")
    assert credentials.password_for(node) == "correct-horse-battery"
    monkeypatch.delenv(credentials.PASSWORD_VARIABLE)
    assert credentials.password_for(node, ask=lambda n: "typed") == "typed"
    with pytest.raises(PacsAuthenticationError, match=credentials.PASSWORD_VARIABLE):
        credentials.password_for(node, ask=lambda n: None)
    assert credentials.password_for(parse_address("http://host/dicom-web")) is None


@pytest.mark.parametrize("date", ["2022", "20220101-2023", "-", "2022-01-01"])
def test_bad_study_dates_are_refused(date):
    with pytest.raises(PacsError, match="YYYYMMDD"):
        StudyQuery(study_date=date)
    StudyQuery(study_date="20220101-")


def test_cli_saves_nodes_and_our_identity_without_secrets(pacs_home, capsys):  # noqa: F811
    from viewer.cli import main

    assert main(["pacs", "save", "archive", "https://alice@pacs.example.org/dicom-web"]) == 0
    assert main(["pacs", "identity", "--aet", "READING2", "--listen-port", "11999"]) == 0
    assert main(["pacs", "nodes"]) == 0
    out = capsys.readouterr().out
    assert "READING2" in out and "11999" in out and "archive: https://alice@" in out
    assert main(["pacs", "identity", "--listen-port", "70000"]) == 2
    assert "between 1 and 65535" in capsys.readouterr().err
    assert main(["pacs", "save", "bad", "https://alice:secret@host/dicom-web"]) == 2
    err = capsys.readouterr().err
    assert "do not put a password" in err and "secret" not in err and err.count("\n") == 1
    assert "secret" not in settings_path().read_text()
