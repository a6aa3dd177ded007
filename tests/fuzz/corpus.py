"""Seed corpora for every fuzz entry point, built from the files in spec/.

Each seed is an entry point's input: two chunk-size octets, any selector
octets the entry point reads, then the payload.  ``write(directory)`` puts
them in one directory per entry point (what atheris/libFuzzer take)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from protokit.testing.fuzz import ENTRY_POINTS
from protokit.wire import b64decode_strict

SPEC = Path(__file__).resolve().parents[2] / "spec"
#: Chunk plans every payload is seeded with: whole, byte by byte, odd splits.
PLANS = (b"\x00\x00", b"\x01\x01", b"\x07\x02")


def imap_examples(direction: str) -> list[bytes]:
    """The C: or S: entries of spec/imap/examples/*.txt (see its README)."""
    out: list[bytes] = []
    for path in sorted((SPEC / "imap" / "examples").glob("*.txt")):
        entries: list[tuple[str, list[str]]] = []
        for line in path.read_text(encoding="utf-8").split("\n"):
            if line.startswith("#") or (not line.strip() and not line.startswith("   ")):
                continue
            if line.startswith(("C: ", "S: ")):
                entries.append((line[0], [line[3:]]))
            elif line.startswith("   ") and entries:
                entries[-1][1].append(line[3:])
        out += [("\r\n".join(ls) + "\r\n").encode() for d, ls in entries if d == direction]
    return out


def trace_lines(protocol: str, direction: str) -> list[bytes]:
    """One session per trace file: its C: (or S:) lines, up to any TLS mark."""
    out: list[bytes] = []
    for path in sorted((SPEC / protocol / "traces").glob("*.txt")):
        lines: list[bytes] = []
        for line in path.read_text(encoding="utf-8").split("\n"):
            if line.startswith(("T:", "-- TLS")):
                break
            if line.startswith(direction + ": "):
                lines.append(line[3:].encode() + b"\r\n")
        if lines:
            out.append(b"".join(lines))
    return out


def vectors(protocol: str, kind: str) -> list[bytes]:
    """Inputs of spec/<protocol>/vectors/<kind>*.json (valid and invalid)."""
    out: list[bytes] = []
    for path in sorted((SPEC / protocol / "vectors").glob(f"{kind}*.json")):
        cases = json.loads(path.read_text(encoding="utf-8"))["cases"]
        out += [case["input"].encode("utf-8", "surrogateescape") for case in cases]
    return out


def _sasl_messages() -> dict[str, list[list[bytes]]]:
    """Client messages of the spec/sasl exchanges, by mechanism."""
    plain = json.loads((SPEC / "sasl" / "rfc4616-plain.json").read_text())
    scram = json.loads((SPEC / "sasl" / "scram.json").read_text())
    bearer = json.loads((SPEC / "sasl" / "rfc7628-oauthbearer.json").read_text())
    xoauth = json.loads((SPEC / "sasl" / "google-xoauth2.json").read_text())
    out: dict[str, list[list[bytes]]] = {
        "PLAIN": [[e["message"].encode()] for e in plain["examples"]]
        + [[b"\x00user\x00pw-5ecr3t-fuzz"], [b"user\x00user\x00pw-5ecr3t-fuzz"]],
        "LOGIN": [[b"user", b"pw-5ecr3t-fuzz"], [b"user", b"wrong"]],
        "CRAM-MD5": [[b"user 0123456789abcdef0123456789abcdef"]],
        "EXTERNAL": [[b""], [b"user"]],
        "ANONYMOUS": [[b"trace@example.org"], [b""]],
        "XOAUTH2": [
            [b"user=user\x01auth=Bearer tok-5ecr3t-fuzz\x01\x01"],
            [b"user=user\x01auth=Bearer x\x01\x01", b""],
        ],
        "OAUTHBEARER": [
            [b"n,a=user,\x01auth=Bearer tok-5ecr3t-fuzz\x01\x01"],
            [b"n,,\x01auth=Bearer x\x01\x01", b"\x01"],
        ],
    }
    for ex in scram["exchanges"]:
        out.setdefault(ex["mechanism"], []).append(
            [ex["client_first"].encode(), ex["client_final"].encode(), b""]
        )
    out.setdefault("SCRAM-SHA-256-PLUS", []).append([b"p=tls-server-end-point,,n=user,r=abc"])
    for key in ("examples", "exchanges"):
        for e in bearer.get(key, []) if isinstance(bearer, dict) else []:
            for field in ("client_initial", "initial_response", "message"):
                if isinstance(e, dict) and isinstance(e.get(field), str):
                    out["OAUTHBEARER"].append([e[field].encode()])
    for e in xoauth.get("examples", []) if isinstance(xoauth, dict) else []:
        if isinstance(e, dict) and isinstance(e.get("message"), str):
            out["XOAUTH2"].append([e["message"].encode()])
    return out


def _framed(msgs: list[bytes]) -> bytes:
    return b"".join(bytes([min(len(m), 255)]) + m[:255] for m in msgs)


def seeds(name: str) -> list[bytes]:
    """The seed inputs of the entry point ``name`` (an ENTRY_POINTS key)."""
    if name == "sasl_server_any":
        from protokit.testing._fuzz_sasl import SASL_MECHANISMS

        return [
            seed[:2] + bytes([i]) + seed[2:]
            for i, mech in enumerate(SASL_MECHANISMS)
            for seed in seeds("sasl_server_" + mech.lower().replace("-", "_"))
        ]
    if name.startswith("sasl_server_"):
        mech = name[len("sasl_server_") :].upper().replace("_", "-")
        exchanges = _sasl_messages().get(mech, [[b""]])
        return [bytes([flags, 0]) + _framed(m) for m in exchanges for flags in (0, 1, 3)]
    payloads: list[bytes]
    selectors: tuple[bytes, ...] = (b"",)
    if name == "imap_server_framer":
        cmds = imap_examples("C")
        payloads = [*cmds, b"".join(cmds[:40]), *vectors("imap", "command")]
    elif name == "imap_response_parser":
        resps = imap_examples("S")
        payloads = [*resps, b"".join(resps[:40]), *vectors("imap", "response")]
    elif name == "smtp_server":
        payloads = trace_lines("smtp", "C") + vectors("smtp", "command")
        selectors = (b"\x00", b"\x01", b"\x02", b"\x04")
    elif name == "smtp_client":
        payloads = trace_lines("smtp", "S") + vectors("smtp", "reply")
    elif name == "pop3_server":
        payloads = trace_lines("pop3", "C") + vectors("pop3", "command")
        selectors = (b"\x00", b"\x03", b"\x04")
    elif name == "pop3_client":
        payloads = trace_lines("pop3", "S") + vectors("pop3", "reply")
    elif name == "wire_dotunstuffer":
        payloads = [
            b"line\r\n..dot\r\n.\r\nMAIL FROM:<a@b>\r\n",
            b".\r\n",
            b"a\nb\rc\r\n.\r\n",
            b"x\r\n.\n.\r\n\r\n.\r\n",
            b"\r\n\x00.\r\n.\r\n",
        ]
        selectors = (b"\x00\x00", b"\x01\x05", b"\x02\x00")
    elif name == "base64":
        return [b"", b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm", b"dGVzdA==", b"dGVzdA=", b"=", b"*"]
    else:  # pragma: no cover
        raise KeyError(name)
    return [plan + sel + p for p in payloads for sel in selectors for plan in PLANS]


def write(directory: Path, names: list[str] | None = None) -> dict[str, int]:
    """Write each entry point's seeds to ``directory/<name>/``; return counts."""
    counts: dict[str, int] = {}
    for name in names or list(ENTRY_POINTS):
        target = directory / name
        target.mkdir(parents=True, exist_ok=True)
        for seed in seeds(name):
            (target / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        counts[name] = len(seeds(name))
    return counts


__all__ = ["b64decode_strict", "seeds", "write"]
