"""The IMAP client's public names are exported from protokit.net, once, as
the very objects the private modules define."""

from __future__ import annotations

import protokit.net
from protokit.net import _imap_client, _imap_client_fetch, _imap_client_types


def test_every_imap_client_name_is_exported_from_protokit_net() -> None:
    for module in (_imap_client, _imap_client_fetch, _imap_client_types):
        for name in module.__all__:
            assert name in protokit.net.__all__, name
            assert getattr(protokit.net, name) is getattr(module, name)


def test_the_export_list_is_sorted_without_duplicates() -> None:
    names = protokit.net.__all__
    assert names == sorted(names) and len(names) == len(set(names))
