"""Properties over random operation sequences: UIDs strictly ascending and
never reused, UIDNEXT and HIGHESTMODSEQ monotonic, UIDVALIDITY stable, every
change gets a MODSEQ above all earlier ones, COPY/MOVE map to fresh uids,
every message stays in All Mail until deleted for good."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protokit.server import FlagMode, Store, UidRange

from .helpers import writer_with

BOXES = ["INBOX", "Work", "Trash", "All Mail"]
FLAGS = st.lists(
    st.sampled_from(["\\Seen", "\\Deleted", "\\Flagged", "$Work", "$work"]), max_size=3
)
RANGES = st.lists(
    st.builds(UidRange, st.integers(1, 8), st.one_of(st.none(), st.integers(1, 8))),
    min_size=1,
    max_size=3,
)
OPS = st.one_of(
    st.tuples(st.just("deliver"), st.binary(max_size=40)),
    st.tuples(st.just("append"), st.sampled_from(BOXES), FLAGS),
    st.tuples(
        st.just("store"),
        st.sampled_from(BOXES),
        RANGES,
        st.sampled_from(list(FlagMode)),
        FLAGS,
        st.one_of(st.none(), st.integers(0, 30)),
    ),
    st.tuples(st.just("copy"), st.sampled_from(BOXES), RANGES, st.sampled_from(BOXES)),
    st.tuples(st.just("move"), st.sampled_from(BOXES), RANGES, st.sampled_from(BOXES)),
    st.tuples(st.just("expunge"), st.sampled_from(BOXES), st.one_of(st.none(), RANGES)),
    st.tuples(
        st.just("labels"),
        st.sampled_from(BOXES),
        RANGES,
        st.sampled_from(list(FlagMode)),
        st.lists(st.sampled_from(["\\Inbox", "Work", "\\Trash", "\\Sent"]), max_size=2),
    ),
)


def snapshot(
    store: Store, ids: dict[str, int]
) -> dict[str, tuple[int, int, int, dict[int, tuple[int, tuple[str, ...], int]]]]:
    out = {}
    for name, mailbox_id in ids.items():
        mb = store.mailbox_by_id(mailbox_id)
        members = {m.uid: (m.gm_msgid, m.flags, m.modseq) for m in store.fetch(mailbox_id)}
        out[name] = (mb.uidvalidity, mb.uidnext, mb.highestmodseq, members)
    return out


# 40 examples of up to 25 operations: each example builds a fresh SQLite
# store, so the profile's 200 would cost this directory its time budget.
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, max_size=25))
def test_invariants_hold_for_any_sequence(ops: list[tuple[object, ...]]) -> None:
    with (
        tempfile.TemporaryDirectory() as d,
        Store(Path(d) / "s.sqlite3", password_iterations=1000, scram_iterations=16) as store,
    ):
        account = store.add_account("a@example.com", "pw")
        store.create_mailbox(account.id, "Work")
        ids = {name: store.mailbox(account.id, name).id for name in BOXES}
        before = snapshot(store, ids)
        for op in ops:
            mapping: tuple[tuple[int, int], ...] = ()
            kind = op[0]
            if kind == "deliver":
                store.deliver("a@example.com", writer_with(store, [op[1]]))  # type: ignore[list-item]
            elif kind == "append":
                store.append(ids[op[1]], writer_with(store, [b"m"]), flags=op[2])  # type: ignore[index, arg-type]
            elif kind == "store":
                _, name, ranges, mode, flags, since = op
                store.store_flags(ids[name], ranges, mode, flags, unchanged_since=since)  # type: ignore[index, arg-type]
            elif kind in ("copy", "move"):
                _, src, ranges, dst = op
                fn = store.copy if kind == "copy" else store.move
                mapping = fn(ids[src], ranges, ids[dst]).mapping  # type: ignore[index, arg-type]
            else:
                store.expunge(ids[op[1]], op[2])  # type: ignore[index, arg-type]
            after = snapshot(store, ids)
            all_mail = {v[0] for v in after["All Mail"][3].values()}
            for name in BOXES:
                v0, next0, hm0, members0 = before[name]
                v1, next1, hm1, members1 = after[name]
                assert v1 == v0
                assert next1 >= next0 and hm1 >= hm0
                assert all(uid < next1 for uid in members1)
                assert max((m[2] for m in members1.values()), default=0) <= hm1
                # a uid keeps its message; new uids are above the old UIDNEXT
                for uid, (gm, _, _) in members1.items():
                    if uid in members0:
                        assert members0[uid][0] == gm
                    else:
                        assert uid >= next0
                # any change to the mailbox's content moved HIGHESTMODSEQ up,
                # and every changed member carries a modseq above the old one
                if members1 != members0:
                    assert hm1 > hm0
                for uid, (_gm, flags, modseq) in members1.items():
                    if uid in members0 and members0[uid][1] != flags:
                        assert modseq > hm0
                    if uid not in members0:
                        assert modseq > hm0
                # no duplicate message in one mailbox (labels)
                assert len({m[0] for m in members1.values()}) == len(members1)
                assert {m[0] for m in members1.values()} <= all_mail
            if mapping:
                sources = [s for s, _ in mapping]
                assert sources == sorted(sources)
            before = after
