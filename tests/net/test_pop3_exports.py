"""The POP3 binding's public names are exported from protokit.net, once,
as the very objects the private modules define."""

from __future__ import annotations

import protokit.net
from protokit.net import _pop3_backend, _pop3_client, _pop3_server


def test_every_pop3_name_is_exported_from_protokit_net() -> None:
    for module in (_pop3_backend, _pop3_client, _pop3_server):
        for name in module.__all__:
            assert name in protokit.net.__all__, name
            assert getattr(protokit.net, name) is getattr(module, name)


def test_the_export_list_has_no_duplicates_and_resolves() -> None:
    names = protokit.net.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(protokit.net, name), name
