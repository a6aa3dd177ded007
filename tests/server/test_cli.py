"""The ``protokit`` command end to end, in a subprocess: user add/list/
remove/passwd and token issue, exit codes 0/1/2, complete --help, and no
password ever printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from protokit.cli import build_parser, main
from protokit.sasl import derive_scram_credentials
from protokit.server import Store, TokenValidator

ROOT = Path(__file__).resolve().parents[2]
PW = "s3cret-Passw0rd"


def run(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "protokit.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs hash passwords cheaply (the subprocess runs use the
    real 600,000 PBKDF2 iterations)."""
    real = Store.open.__func__  # type: ignore[attr-defined]

    def open_fast(cls: type[Store], /, data_dir: object, **options: object) -> Store:
        return real(cls, data_dir, password_iterations=1000, scram_iterations=64)  # type: ignore[no-any-return]

    monkeypatch.setattr(Store, "open", classmethod(open_fast))


def call(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """``main`` in this process: (exit code, stdout, stderr)."""
    import io

    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_user_and_token_lifecycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = Store.open.__func__  # type: ignore[attr-defined]
    d = str(tmp_path / "data")
    outputs: list[str] = []

    def ok(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        r = run(*args, "--data-dir", d, stdin=stdin)
        outputs.append(r.stdout + r.stderr)
        assert r.returncode == 0, r.stderr
        assert r.stderr.startswith(f"data directory: {tmp_path / 'data'}\n")
        return r

    r = ok("user", "add", "alice@example.com", "--password", PW)
    assert (r.stdout, r.stderr.splitlines()[1:]) == ("", ["added alice@example.com"])
    # a second account, hashed cheaply in-process (each real hash is 600,000 rounds)
    with Store.open(d, password_iterations=1000) as store:
        store.add_account("bob@example.com", "bob-pw")
    assert ok("user", "list").stdout == "alice@example.com\nbob@example.com\n"

    r = ok("token", "issue", "alice@example.com", "--expires-in", "120")
    token = r.stdout.strip()
    assert r.stdout == token + "\n" and token.startswith("pkdev_")
    assert r.stderr.splitlines()[1].startswith("expires 20")

    with Store.open(d) as store:
        # the real cost: 600,000 PBKDF2 rounds (checked through the SCRAM keys,
        # 4096 rounds, rather than by hashing again)
        old = store.scram_credentials("alice@example.com", "SHA-256")
        assert old == derive_scram_credentials("SHA-256", PW, old.salt, 4096)  # type: ignore[union-attr]
        (hashed,) = store._db.db.execute(
            "SELECT password_hash FROM accounts WHERE address = 'alice@example.com'"
        ).fetchone()
        assert hashed.startswith("pbkdf2-sha256$600000$")

    # passwd in this process (hashing cheaply); the argument handling is the same
    def open_fast(cls: type[Store], /, data_dir: object, **options: object) -> Store:
        return real_open(cls, data_dir, password_iterations=1000)  # type: ignore[no-any-return]

    monkeypatch.setattr(Store, "open", classmethod(open_fast))
    code, out, err = call(
        "user",
        "passwd",
        "alice@example.com",
        "--password-stdin",
        "--data-dir",
        d,
        stdin="new-pw\r\n",
    )
    assert (code, out) == (0, "") and err.splitlines()[1:] == [
        "password changed for alice@example.com"
    ]
    outputs.append(out + err)
    monkeypatch.undo()
    with Store.open(d) as store:
        new = store.scram_credentials("alice@example.com", "SHA-256")
        assert new is not None and new.iterations == 4096
        assert new == derive_scram_credentials("SHA-256", "new-pw", new.salt, 4096)
        assert store.verify_password("alice@example.com", "new-pw") is not None
        assert TokenValidator(store).check(token, "alice@example.com").valid

    r = ok("user", "remove", "bob@example.com")
    assert r.stderr.splitlines()[1:] == ["removed bob@example.com"]
    assert ok("user", "list").stdout == "alice@example.com\n"
    assert not any(PW in out or "new-pw" in out for out in outputs)


def test_default_data_dir_is_in_the_working_directory(
    tmp_path: Path, fast_hashing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = call("user", "add", "a@example.com", "--password", PW)
    assert code == 0, err
    assert err.startswith(f"data directory: {tmp_path / 'protokit-data'}\n")
    assert (tmp_path / "protokit-data" / "protokit.sqlite3").exists()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ("user", "add", "a@example.com", "--password", PW),
            "",
            "the account a@example.com exists already",
        ),
        (("user", "remove", "nobody@example.com"), "", "no account nobody@example.com"),
        (
            ("user", "passwd", "nobody@example.com", "--password", "x"),
            "",
            "no account nobody@example.com",
        ),
        (("token", "issue", "nobody@example.com"), "", "no account nobody@example.com"),
        (("user", "add", "not-an-address", "--password", PW), "", "not a valid address"),
    ],
)
def test_failures_exit_1(
    tmp_path: Path, fast_hashing: None, args: tuple[str, ...], stdin: str, message: str
) -> None:
    d = str(tmp_path / "d")
    assert call("user", "add", "a@example.com", "--password", PW, "--data-dir", d)[0] == 0
    code, out, err = call(*args, "--data-dir", d, stdin=stdin)
    assert (code, out) == (1, "")
    assert err.splitlines()[-1].startswith(f"protokit: {message}")
    assert PW not in err


def test_commands_other_than_add_need_an_existing_store(tmp_path: Path) -> None:
    code, _, err = call("user", "list", "--data-dir", str(tmp_path / "none"))
    assert code == 1 and err == f"protokit: no store in {tmp_path / 'none'} (add a user first)\n"
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        ((), "", "the following arguments are required: COMMAND"),
        (("user",), "", "the following arguments are required: ACTION"),
        (("user", "add"), "", "the following arguments are required: ADDRESS"),
        (
            ("user", "add", "a@b", "--password", "x", "--password-stdin"),
            "",
            "not allowed with argument",
        ),
        (("user", "add", "a@b"), "", "give --password PW or --password-stdin"),
        (("user", "add", "a@b", "--password-stdin"), "\n", "the password is empty"),
        (("user", "add", "a@b", "--password", ""), "", "the password is empty"),
        (("token", "issue", "a@b", "--expires-in", "soon"), "", "invalid int value"),
        (("token", "issue", "a@b", "--expires-in", "0"), "", "--expires-in is 1 to"),
        (("serve", "--port-offset", "65000"), "", "the port offset is 0 to 64540"),
        (("serve", "--cert-file", "c.pem"), "", "give both --cert-file and --key-file"),
        (("user", "frob"), "", "invalid choice: 'frob'"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    stdin: str,
    message: str,
) -> None:
    extra = ("--data-dir", str(tmp_path / "d")) if len(args) > 1 else ()
    code, _, err = call(*args, *extra, stdin=stdin)
    err += capsys.readouterr().err  # argparse writes to sys.stderr itself
    assert code == 2, err
    assert message in err
    assert not (tmp_path / "d" / "protokit.sqlite3").exists()


def test_usage_error_in_a_subprocess() -> None:
    r = run("user")
    assert r.returncode == 2
    assert r.stderr.endswith("error: the following arguments are required: ACTION\n")


def test_password_never_printed_even_on_failure(tmp_path: Path) -> None:
    code, out, err = call(
        "user", "add", "bad address", "--password", PW, "--data-dir", str(tmp_path)
    )
    assert code == 1 and PW not in out + err


def test_help_is_complete() -> None:
    r = run("--help")
    assert r.returncode == 0
    for word in ("user", "token", "Exit codes: 0 success, 1 failure, 2 usage error."):
        assert word in r.stdout
    for sub, words in {
        ("user", "add"): [
            "ADDRESS",
            "--password PW",
            "--password-stdin",
            "--data-dir DIR",
            "./protokit-data",
        ],
        ("user", "list"): ["--data-dir DIR"],
        ("user", "remove"): ["ADDRESS", "--data-dir DIR"],
        ("user", "passwd"): ["ADDRESS", "--password PW", "--password-stdin"],
        ("token", "issue"): ["ADDRESS", "--expires-in SECONDS", "default: 3600"],
    }.items():
        out = run(*sub, "--help").stdout
        for w in words:
            assert w in out, (sub, w)


def test_main_in_process(
    tmp_path: Path, fast_hashing: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = call(
        "user", "add", "a@example.com", "--password-stdin", "--data-dir", str(tmp_path), stdin=PW
    )
    assert code == 0 and out == "" and PW not in err
    assert call("user", "list", "--data-dir", str(tmp_path))[1] == "a@example.com\n"
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("protokit ")
    assert build_parser().prog == "protokit"
