"""Helpers for the store tests."""

from __future__ import annotations

from collections.abc import Iterable

from protokit.server import Delivered, MessageWriter, Store


def writer_with(store: Store, chunks: Iterable[bytes]) -> MessageWriter:
    writer = store.new_message()
    for chunk in chunks:
        writer.write(chunk)
    return writer


def deliver(store: Store, address: str, data: bytes) -> Delivered:
    return store.deliver(address, writer_with(store, [data]))[address]


def message(
    subject: str = "hi", *, msgid: str | None = None, refs: str = "", body: str = ""
) -> bytes:
    lines = [f"Subject: {subject}", "From: a@example.com"]
    if msgid:
        lines.append(f"Message-ID: <{msgid}>")
    if refs:
        lines.append(f"References: {refs}")
    return ("\r\n".join(lines) + "\r\n\r\n" + (body or f"body of {subject}\r\n")).encode()


def read_all(store: Store, account_id: int, gm_msgid: int, chunk_size: int = 65536) -> bytes:
    return b"".join(store.read_message(account_id, gm_msgid, chunk_size))
