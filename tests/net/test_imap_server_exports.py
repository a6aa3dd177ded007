"""The IMAP server binding's public names are exported from protokit.net,
once, as the very objects the private modules define."""

from __future__ import annotations

import protokit.net
from protokit.net import _imap_backend, _imap_backend_memory, _imap_search, _imap_server


def test_every_imap_server_name_is_exported_from_protokit_net() -> None:
    for module in (_imap_backend, _imap_backend_memory, _imap_search, _imap_server):
        for name in module.__all__:
            assert name in protokit.net.__all__, name
            assert getattr(protokit.net, name) is getattr(module, name)


def test_the_in_memory_backend_implements_the_protocols() -> None:
    backend = protokit.net.InMemoryIMAPBackend()
    assert isinstance(backend, protokit.net.IMAPBackend)
