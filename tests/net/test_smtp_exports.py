"""The SMTP binding's public names are exported from protokit.net, once,
as the very objects the private modules define."""

from __future__ import annotations

import protokit.net
from protokit.net import _smtp_backend, _smtp_client, _smtp_server


def test_every_smtp_name_is_exported_from_protokit_net() -> None:
    for module in (_smtp_backend, _smtp_client, _smtp_server):
        for name in module.__all__:
            assert name in protokit.net.__all__, name
            assert getattr(protokit.net, name) is getattr(module, name)
