"""Hypothesis strategies for valid IMAP values: every command and response
type the codec knows (the public face is :mod:`protokit.testing.strategies`)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from hypothesis import strategies as st

from protokit import Secret
from protokit.imap import (
    Address,
    Append,
    AppendMessage,
    Authenticate,
    BodySection,
    Capability,
    CapabilityCommand,
    Check,
    Close,
    Compress,
    ContinuationRequest,
    Copy,
    Create,
    Delete,
    Disposition,
    Done,
    Enable,
    Enabled,
    Envelope,
    ESearch,
    Examine,
    Exists,
    Expunge,
    ExpungeCommand,
    Fetch,
    FetchBody,
    FetchCommand,
    Flag,
    Flags,
    GenericCommand,
    GenericResponse,
    GetQuota,
    GetQuotaRoot,
    Id,
    IdCommand,
    Idle,
    List,
    ListResponse,
    Login,
    Logout,
    Lsub,
    Mailbox,
    Move,
    MultiPart,
    Namespace,
    NamespaceCommand,
    NamespaceEntry,
    Noop,
    Quota,
    QuotaResource,
    QuotaRoot,
    Recent,
    Rename,
    ResponseCode,
    Search,
    SearchCommand,
    SearchKey,
    Section,
    Select,
    SequenceSet,
    SetQuota,
    SinglePart,
    Sort,
    SortCommand,
    StartTLS,
    Status,
    StatusCommand,
    StatusResponse,
    Store,
    Subscribe,
    Tag,
    Thread,
    ThreadCommand,
    Unselect,
    Unsubscribe,
    Vanished,
)
from protokit.imap._search import DATE_ARG, NO_ARG, NUMBER_ARG, STRING_ARG

ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SURROGATES: list[Literal["Cs"]] = ["Cs"]
ATOM_CHARS = ALPHA + "0123456789!#$&'+,-./:;<=>?@^_`|}~"

tags = st.text(ATOM_CHARS.replace("+", "") + "[]", min_size=1, max_size=8).map(Tag)
names = st.text(ALPHA, min_size=1, max_size=8).map(str.upper).filter(lambda s: s != "NIL")
words = st.text(ATOM_CHARS, min_size=1, max_size=10).filter(
    lambda s: s.upper() != "NIL" and not s.isdigit()
)
keywords = st.text(ALPHA + "$_-", min_size=1, max_size=8).filter(lambda s: s.upper() != "NIL")
flags = st.one_of(
    st.sampled_from([Flag.SEEN, Flag.ANSWERED, Flag.FLAGGED, Flag.DELETED, Flag.DRAFT]),
    keywords.map(Flag),
    st.text(ALPHA, min_size=1, max_size=8).map(lambda s: Flag("\\" + s)),
)
nums = st.integers(0, 2**32 - 1)
nz = st.integers(1, 2**32 - 1)
big = st.integers(0, 2**63 - 1)
strings = st.binary(max_size=40).filter(lambda b: b"\x00" not in b)
ascii_strings = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20).map(
    str.encode
)
nstrings = st.none() | strings
mailboxes = st.text(
    st.characters(blacklist_categories=_SURROGATES, blacklist_characters="\r\n\x00"), max_size=12
).map(Mailbox)
seqnum = st.none() | nz
seqsets = st.one_of(
    st.lists(st.tuples(seqnum, seqnum), min_size=1, max_size=4).map(
        lambda r: SequenceSet(tuple(r))
    ),
    st.just(SequenceSet(saved=True)),
)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)
datetimes = st.builds(
    lambda d, tz: d.replace(tzinfo=tz, microsecond=0),
    st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(9999, 12, 31)),
    offsets,
)
dates = st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31))
header_fields = st.text(ALPHA + "-", min_size=1, max_size=10).map(str.encode)


@st.composite
def sections(draw: Any, binary: bool = False) -> Section:
    part = tuple(draw(st.lists(st.integers(1, 99), max_size=3)))
    if binary:
        return Section(part=part)
    text = draw(st.sampled_from([None, "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT"]))
    if part and draw(st.booleans()):
        text = "MIME"
    fields: tuple[bytes, ...] = ()
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        fields = tuple(draw(st.lists(header_fields, min_size=1, max_size=3)))
    return Section(part=part, text=text, fields=fields)


addresses = st.builds(Address, name=nstrings, adl=nstrings, mailbox=nstrings, host=nstrings)
addr_lists = st.none() | st.lists(addresses, min_size=1, max_size=3).map(tuple)
envelopes = st.builds(
    Envelope,
    date=nstrings,
    subject=nstrings,
    from_=addr_lists,
    sender=addr_lists,
    reply_to=addr_lists,
    to=addr_lists,
    cc=addr_lists,
    bcc=addr_lists,
    in_reply_to=nstrings,
    message_id=nstrings,
)
params = st.none() | st.lists(st.tuples(strings, strings), min_size=1, max_size=2).map(tuple)
dispositions = st.none() | st.builds(Disposition, type=strings, params=params)
languages = st.none() | st.lists(strings, min_size=1, max_size=2).map(tuple)
ext_values: Any = st.recursive(
    st.none() | strings | st.integers(0, 10**6).map(str),
    lambda inner: st.lists(inner, min_size=1, max_size=3).map(tuple),
    max_leaves=4,
)


@st.composite
def _ext(draw: Any, leading: Any) -> dict[str, Any]:
    """Extension data as a parser would produce it: a prefix of the fields."""
    count = draw(st.integers(0, 6))
    values = [draw(leading), draw(dispositions), draw(languages), draw(nstrings)]
    extensions = tuple(draw(st.lists(ext_values, max_size=max(0, count - 4))))
    count = min(count, 4) + len(extensions)
    out = dict(zip(("lead", "disposition", "language", "location"), values, strict=True))
    for i, key in enumerate(("lead", "disposition", "language", "location")):
        if i >= count:
            out[key] = None
    out["extensions"] = extensions if count > 4 else ()
    out["extension_count"] = count
    return out


@st.composite
def single_parts(draw: Any, extended: bool, body: Any = None) -> SinglePart:
    ext: dict[str, Any] = draw(_ext(nstrings)) if extended else {"extension_count": 0}
    kind = draw(
        st.sampled_from(["basic", "text", "message"] if body is not None else ["basic", "text"])
    )
    mtype = {"basic": b"IMAGE", "text": b"TEXT", "message": b"MESSAGE"}[kind]
    subtype = (
        b"RFC822" if kind == "message" else draw(strings.filter(lambda s: s.upper() != b"RFC822"))
    )
    fields: dict[str, Any] = {}
    if kind == "message":
        fields = {"envelope": draw(envelopes), "body": draw(body), "lines": draw(nums)}
    elif kind == "text":
        fields = {"lines": draw(nums)}
    return SinglePart(
        type=mtype,
        subtype=subtype,
        params=draw(params),
        id=draw(nstrings),
        description=draw(nstrings),
        encoding=draw(strings),
        size=draw(nums),
        md5=ext.get("lead"),
        disposition=ext.get("disposition"),
        language=ext.get("language"),
        location=ext.get("location"),
        extensions=ext.get("extensions", ()),
        extension_count=ext["extension_count"],
        **fields,
    )


def bodies(extended: bool) -> Any:
    def extend(inner: Any) -> Any:
        return st.one_of(
            single_parts(extended, inner),
            st.builds(
                _multipart,
                st.lists(inner, min_size=1, max_size=3),
                strings,
                _ext(params) if extended else st.just({"extension_count": 0}),
            ),
        )

    return st.recursive(single_parts(extended), extend, max_leaves=5)


def _multipart(parts: list[Any], subtype: bytes, ext: dict[str, Any]) -> MultiPart:
    return MultiPart(
        parts=tuple(parts),
        subtype=subtype,
        params=ext.get("lead"),
        disposition=ext.get("disposition"),
        language=ext.get("language"),
        location=ext.get("location"),
        extensions=ext.get("extensions", ()),
        extension_count=ext["extension_count"],
    )


generic_values: Any = st.recursive(
    st.none() | strings | words,
    lambda inner: st.lists(inner, max_size=3).map(tuple),
    max_leaves=6,
)
fetch_names = names.filter(
    lambda n: n
    not in {
        "UID", "FLAGS", "INTERNALDATE", "ENVELOPE", "BODYSTRUCTURE", "BODY", "MODSEQ", "RFC822",
    }
).map(lambda n: "X-" + n)  # fmt: skip


@st.composite
def fetches(draw: Any) -> Fetch:
    def opt(s: Any) -> Any:
        return draw(st.none() | s)

    binary_sections = st.builds(
        BodySection,
        section=sections(binary=True),
        origin=st.none() | nums,
        data=st.none() | st.binary(max_size=20),
        binary=st.just(True),
    )
    body_sections = st.builds(
        BodySection, section=sections(), origin=st.none() | nums, data=nstrings
    )
    fields = {
        "seq": draw(nz),
        "uid": opt(nz),
        "flags": opt(st.lists(flags, max_size=3).map(tuple)),
        "internaldate": opt(datetimes),
        "rfc822_size": opt(nums),
        "envelope": opt(envelopes),
        "bodystructure": opt(bodies(True)),
        "body": opt(bodies(False)),
        "sections": tuple(draw(st.lists(body_sections | binary_sections, max_size=2))),
        "rfc822": opt(strings),
        "rfc822_header": opt(strings),
        "rfc822_text": opt(strings),
        "binary_sizes": tuple(
            draw(
                st.lists(
                    st.tuples(st.lists(st.integers(1, 9), max_size=2).map(tuple), nums), max_size=2
                )
            )
        ),
        "modseq": opt(big),
        "gm_msgid": opt(big),
        "gm_thrid": opt(big),
        "gm_labels": opt(st.lists(strings, max_size=3).map(tuple)),
        "other": tuple(draw(st.lists(st.tuples(fetch_names, generic_values), max_size=2))),
    }
    if all(v is None or v == () for k, v in fields.items() if k != "seq"):
        fields["uid"] = 1  # a FETCH response has at least one item
    return Fetch(**fields)


codes = st.one_of(
    st.sampled_from(["ALERT", "PARSE", "READ-ONLY", "TRYCREATE", "NOMODSEQ", "CLOSED"]).map(
        lambda n: ResponseCode(name=n)
    ),
    st.builds(
        ResponseCode, name=st.sampled_from(["UIDNEXT", "UIDVALIDITY", "UNSEEN"]), value=nums
    ),
    st.builds(
        ResponseCode, name=st.just("CAPABILITY"), value=st.lists(words, min_size=1).map(tuple)
    ),
    st.builds(ResponseCode, name=st.just("PERMANENTFLAGS"), value=st.lists(flags).map(tuple)),
    st.builds(ResponseCode, name=st.just("BADCHARSET"), value=st.lists(ascii_strings).map(tuple)),
    st.builds(
        ResponseCode,
        name=st.just("APPENDUID"),
        value=st.tuples(nz, seqsets.filter(lambda s: not s.saved)),
    ),
    st.builds(
        ResponseCode,
        name=st.just("COPYUID"),
        value=st.tuples(
            nz, seqsets.filter(lambda s: not s.saved), seqsets.filter(lambda s: not s.saved)
        ),
    ),
    st.builds(ResponseCode, name=st.just("MODIFIED"), value=seqsets.filter(lambda s: not s.saved)),
    st.builds(
        ResponseCode,
        name=names.map(lambda n: "X-" + n),
        value=st.none()
        | st.text(ATOM_CHARS + " ", min_size=1, max_size=10)
        .map(str.encode)
        .filter(lambda b: not b.startswith(b" ")),
    ),
)
texts = st.text(
    st.characters(blacklist_categories=_SURROGATES, blacklist_characters="\r\n\x00"),
    min_size=1,
    max_size=20,
).filter(lambda t: not t.startswith("["))


@st.composite
def statuses(draw: Any) -> Status:
    tag = draw(st.none() | tags)
    status = draw(
        st.sampled_from(["OK", "NO", "BAD"] if tag else ["OK", "NO", "BAD", "PREAUTH", "BYE"])
    )
    code = draw(st.none() | codes)
    text = draw(texts if code is None else (st.just("") | texts))
    return Status(tag=tag, status=status, code=code, text=text)


delims = st.none() | st.sampled_from(["/", ".", "\\", '"'])
namespace_parts = st.none() | st.lists(
    st.builds(
        NamespaceEntry,
        prefix=strings,
        delimiter=delims,
        extensions=st.lists(
            st.tuples(strings, st.lists(strings, max_size=2).map(tuple)), max_size=1
        ).map(tuple),
    ),
    min_size=1,
    max_size=2,
).map(tuple)
threads: Any = st.recursive(
    st.lists(nz, min_size=1, max_size=3).map(tuple),
    lambda inner: st.tuples(st.lists(nz, max_size=2), st.lists(inner, min_size=2, max_size=2)).map(
        lambda t: (*t[0], *t[1]) if t[0] else t[1][0]
    ),
    max_leaves=4,
)

responses = st.one_of(
    statuses(),
    st.builds(ContinuationRequest, data=ascii_strings),
    st.builds(Capability, capabilities=st.lists(words, min_size=1).map(tuple)),
    st.builds(Enabled, capabilities=st.lists(words).map(tuple)),
    st.builds(
        ListResponse,
        kind=st.sampled_from(["LIST", "LSUB"]),
        attributes=st.lists(flags).map(tuple),
        delimiter=delims,
        mailbox=mailboxes,
        extended=st.lists(st.tuples(names, generic_values), max_size=2).map(tuple),
    ),
    st.builds(
        StatusResponse,
        mailbox=mailboxes,
        items=st.lists(st.tuples(names, big), max_size=3).map(tuple),
    ),
    st.builds(Search, ids=st.lists(nz, max_size=4).map(tuple), modseq=st.none() | big),
    st.builds(Sort, ids=st.lists(nz, max_size=4).map(tuple), modseq=st.none() | big),
    st.builds(Thread, threads=st.lists(threads, max_size=3).map(tuple)),
    st.builds(
        ESearch,
        tag=st.none() | st.text(ATOM_CHARS, max_size=5),
        uid=st.booleans(),
        items=st.lists(
            st.tuples(st.sampled_from(["MIN", "MAX", "COUNT"]), nums)
            | st.tuples(st.just("ALL"), seqsets.filter(lambda s: not s.saved))
            | st.tuples(names.map(lambda n: "X-" + n), generic_values),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(Flags, flags=st.lists(flags).map(tuple)),
    st.builds(Exists, count=nums),
    st.builds(Recent, count=nums),
    st.builds(Expunge, seq=nz),
    st.builds(Vanished, uids=seqsets.filter(lambda s: not s.saved), earlier=st.booleans()),
    fetches(),
    st.builds(Namespace, personal=namespace_parts, other=namespace_parts, shared=namespace_parts),
    st.builds(
        Id, params=st.none() | st.lists(st.tuples(strings, nstrings), max_size=2).map(tuple)
    ),
    st.builds(
        Quota,
        root=strings,
        resources=st.lists(
            st.builds(QuotaResource, name=names, usage=big, limit=big), max_size=2
        ).map(tuple),
    ),
    st.builds(QuotaRoot, mailbox=mailboxes, roots=st.lists(strings, max_size=2).map(tuple)),
    st.builds(
        GenericResponse,
        name=names.map(lambda n: "X" + n),
        number=st.none() | nums,
        values=st.lists(generic_values, max_size=3).map(tuple),
    ),
)


@st.composite
def search_keys(draw: Any, depth: int = 0) -> SearchKey:
    choices = ["none", "string", "date", "number", "flag", "header", "uid", "seq", "modseq"]
    if depth < 2:
        choices += ["not", "or", "and"]
    kind = draw(st.sampled_from(choices))
    if kind == "none":
        return SearchKey(name=draw(st.sampled_from(sorted(NO_ARG))))
    if kind == "string":
        return SearchKey(name=draw(st.sampled_from(sorted(STRING_ARG))), value=draw(strings))
    if kind == "date":
        return SearchKey(name=draw(st.sampled_from(sorted(DATE_ARG))), value=draw(dates))
    if kind == "number":
        return SearchKey(name=draw(st.sampled_from(sorted(NUMBER_ARG))), value=draw(big))
    if kind == "flag":
        return SearchKey(
            name=draw(st.sampled_from(["KEYWORD", "UNKEYWORD"])), value=draw(keywords.map(Flag))
        )
    if kind == "header":
        return SearchKey(name="HEADER", value=(draw(strings), draw(strings)))
    if kind in ("uid", "seq"):
        return SearchKey(name=kind.upper(), value=draw(seqsets))
    if kind == "modseq":
        entry = draw(st.none() | st.tuples(strings, st.sampled_from(["PRIV", "SHARED", "ALL"])))
        return SearchKey(name="MODSEQ", value=(entry, draw(big)))
    if kind == "not":
        return SearchKey(name="NOT", value=draw(search_keys(depth + 1)))
    if kind == "or":
        return SearchKey(
            name="OR", value=(draw(search_keys(depth + 1)), draw(search_keys(depth + 1)))
        )
    return SearchKey(
        name="AND", value=tuple(draw(st.lists(search_keys(depth + 1), min_size=1, max_size=3)))
    )


key_lists = st.lists(search_keys(), min_size=1, max_size=3).map(tuple)
# parameter values read back as ints, strings, words and tuples of them (a
# sequence set reads back as its word)
param_values = (
    st.none()
    | nums
    | st.lists(st.none() | strings | nums | words, min_size=1, max_size=3).map(tuple)
)
params_st = st.lists(st.tuples(names, param_values), max_size=2).map(tuple)


@st.composite
def fetch_attrs(draw: Any) -> Any:
    if draw(st.booleans()):
        return draw(st.sampled_from(["UID", "FLAGS", "ENVELOPE", "RFC822.SIZE", "X-GM-LABELS"]))
    binary = draw(st.booleans())
    size = binary and draw(st.booleans())
    return FetchBody(
        section=draw(sections(binary=binary)),
        peek=not size and draw(st.booleans()),
        partial=None if size else draw(st.none() | st.tuples(nums, nz)),
        binary=binary,
        size=size,
    )


commands = st.one_of(
    *[
        st.builds(cls, tag=tags)
        for cls in (
            CapabilityCommand,
            Noop,
            Logout,
            StartTLS,
            NamespaceCommand,
            Idle,
            Check,
            Close,
            Unselect,
        )
    ],
    st.just(Done()),
    st.builds(
        Authenticate,
        tag=tags,
        mechanism=names,
        initial_response=st.none() | st.binary(max_size=20).map(Secret),
    ),
    st.builds(Login, tag=tags, username=strings, password=strings.map(Secret)),
    st.builds(Enable, tag=tags, capabilities=st.lists(names, min_size=1, max_size=3).map(tuple)),
    st.builds(
        IdCommand,
        tag=tags,
        params=st.none() | st.lists(st.tuples(strings, nstrings), max_size=2).map(tuple),
    ),
    st.builds(Compress, tag=tags, mechanism=names),
    *[
        st.builds(cls, tag=tags, mailbox=mailboxes, params=params_st)
        for cls in (Select, Examine, Create)
    ],
    *[
        st.builds(cls, tag=tags, mailbox=mailboxes)
        for cls in (Delete, Subscribe, Unsubscribe, GetQuotaRoot)
    ],
    st.builds(Rename, tag=tags, mailbox=mailboxes, new_name=mailboxes),
    st.builds(
        List,
        tag=tags,
        reference=mailboxes,
        patterns=st.lists(mailboxes, min_size=1, max_size=2).map(tuple),
        selection=st.lists(names, max_size=2).map(tuple),
        return_options=params_st,
    ),
    st.builds(Lsub, tag=tags, reference=mailboxes, pattern=mailboxes),
    st.builds(
        StatusCommand,
        tag=tags,
        mailbox=mailboxes,
        items=st.lists(names, min_size=1, max_size=3).map(tuple),
    ),
    st.builds(
        Append,
        tag=tags,
        mailbox=mailboxes,
        messages=st.lists(
            st.builds(
                AppendMessage,
                flags=st.none() | st.lists(flags, max_size=2).map(tuple),
                date=st.none() | datetimes,
                data=st.binary(max_size=30).filter(lambda b: b"\x00" not in b),
                binary=st.booleans(),
            ),
            min_size=1,
            max_size=2,
        ).map(tuple),
    ),
    st.builds(ExpungeCommand, tag=tags, uids=st.none() | seqsets),
    st.builds(
        SearchCommand,
        tag=tags,
        keys=key_lists,
        charset=st.none() | st.just(b"UTF-8"),
        return_options=st.none() | st.lists(names, max_size=2).map(tuple),
        uid=st.booleans(),
    ),
    st.builds(
        FetchCommand,
        tag=tags,
        sequence_set=seqsets,
        items=st.lists(fetch_attrs(), min_size=1, max_size=3).map(tuple),
        modifiers=params_st,
        uid=st.booleans(),
    ),
    st.builds(
        FetchCommand,
        tag=tags,
        sequence_set=seqsets,
        items=st.sampled_from(["ALL", "FAST", "FULL"]).map(lambda m: (m,)),
        macro=st.just(True),
    ),
    st.builds(
        Store,
        tag=tags,
        sequence_set=seqsets,
        mode=st.sampled_from(["", "+", "-"]),
        silent=st.booleans(),
        flags=st.lists(flags, max_size=3).map(tuple),
        unchangedsince=st.none() | big,
        uid=st.booleans(),
    ),
    st.builds(
        Store,
        tag=tags,
        sequence_set=seqsets,
        mode=st.sampled_from(["", "+", "-"]),
        gm_labels=st.lists(strings, max_size=3).map(tuple),
        uid=st.booleans(),
    ),
    *[
        st.builds(cls, tag=tags, sequence_set=seqsets, mailbox=mailboxes, uid=st.booleans())
        for cls in (Copy, Move)
    ],
    st.builds(
        SortCommand,
        tag=tags,
        criteria=st.lists(names, min_size=1, max_size=2).map(tuple),
        charset=ascii_strings,
        keys=key_lists,
        uid=st.booleans(),
    ),
    st.builds(
        ThreadCommand,
        tag=tags,
        algorithm=names,
        charset=ascii_strings,
        keys=key_lists,
        uid=st.booleans(),
    ),
    st.builds(GetQuota, tag=tags, root=strings),
    st.builds(
        SetQuota,
        tag=tags,
        root=strings,
        limits=st.lists(st.tuples(names, big), max_size=2).map(tuple),
    ),
    st.builds(
        GenericCommand,
        tag=tags,
        name=names.map(lambda n: "X" + n),
        values=st.lists(generic_values, max_size=3).map(tuple),
    ),
)
