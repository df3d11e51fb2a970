"""The chunked transfer decoder: any split gives the same payload."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyhik.protocol.chunked import ChunkedDecoder, ChunkError


def encode(pieces, eol=b"\r\n", ext=b""):
    out = b"".join(b"%x%s%s%s%s" % (len(p), ext, eol, p, eol) for p in pieces if p)
    return out + b"0" + eol + eol


def decode(data, cuts=()):
    dec = ChunkedDecoder()
    out, start = [], 0
    for cut in sorted(cuts) + [len(data)]:
        out.append(dec.feed(data[start:cut]))
        start = cut
    return b"".join(out), dec.done


def test_simple_and_done():
    assert decode(encode([b"hello", b" ", b"world"])) == (b"hello world", True)


def test_extensions_lf_only_and_blank_lines():
    assert decode(encode([b"abc", b"defg"], ext=b";name=x"))[0] == b"abcdefg"
    assert decode(encode([b"abc", b"defg"], eol=b"\n"))[0] == b"abcdefg"
    assert decode(b"3\r\nabc\r\n\r\n3\r\ndef\r\n")[0] == b"abcdef"


def test_bytes_after_last_chunk_are_ignored():
    dec = ChunkedDecoder()
    assert dec.feed(b"2\r\nok\r\n0\r\n\r\nGARBAGE") == b"ok" and dec.done
    assert dec.feed(b"more") == b""


@pytest.mark.parametrize("bad", [b"zz\r\nabc", b"-5\r\n", b"1" * 2000])
def test_not_chunked_raises(bad):
    with pytest.raises(ChunkError):
        ChunkedDecoder().feed(bad)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(pieces=st.lists(st.binary(min_size=1, max_size=300), max_size=12),
       cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=10),
       eol=st.sampled_from([b"\r\n", b"\n"]))
def test_any_split_gives_the_same_payload(pieces, cuts, eol):
    data = encode(pieces, eol=eol)
    cuts = [c for c in cuts if c <= len(data)]
    assert decode(data, cuts) == (b"".join(pieces), True)


def test_one_byte_at_a_time():
    data = encode([b"<EventNotificationAlert/>" * 3, b"x" * 70000])
    assert decode(data, range(1, len(data)))[0] == b"<EventNotificationAlert/>" * 3 + b"x" * 70000
