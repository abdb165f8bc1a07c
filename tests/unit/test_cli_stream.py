"""Docker's stream protocols on the CLI side: the multiplexed stream decoder, the hijack
request, reading the upgrade answer without losing early bytes, and relaying stdio over a
real socket pair (half-close at the end of stdin)."""

from __future__ import annotations

import io
import socket
import threading

import pytest

from berth.cli.errors import StreamError
from berth.cli.hijack import (
    Hijacked,
    StreamDecoder,
    encode_frame,
    hijack_request,
    read_response_head,
)
from berth.cli.stdio import OutputSink, relay


def test_decoder_frames_split_anywhere() -> None:
    data = encode_frame(1, b"hello ") + encode_frame(2, b"oops\n") + encode_frame(1, b"world\n")
    for cut in range(len(data) + 1):
        decoder = StreamDecoder()
        frames = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        decoder.finish()
        assert frames == [(1, b"hello "), (2, b"oops\n"), (1, b"world\n")]


def test_decoder_header_layout_and_stdin_frames() -> None:
    assert encode_frame(2, b"ab") == b"\x02\x00\x00\x00\x00\x00\x00\x02ab"
    # stream 0 (stdin echoed back by a tty-less attach) goes to stdout like docker's StdCopy
    assert StreamDecoder().feed(b"\x00\x00\x00\x00\x00\x00\x00\x01x") == [(1, b"x")]
    assert StreamDecoder().feed(encode_frame(1, b"")) == [(1, b"")]
    big = b"x" * 70000
    assert StreamDecoder().feed(encode_frame(1, big)) == [(1, big)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x07\x00\x00\x00\x00\x00\x00\x01x", "invalid multiplexed stream header"),
        (b"\x01\x00\x01\x00\x00\x00\x00\x01x", "invalid multiplexed stream header"),
        (encode_frame(3, b"container died"), "error from daemon in stream: container died"),
    ],
)
def test_decoder_rejects_bad_streams(data: bytes, message: str) -> None:
    with pytest.raises(StreamError, match=message):
        StreamDecoder().feed(data)


def test_decoder_cut_stream() -> None:
    decoder = StreamDecoder()
    decoder.feed(encode_frame(1, b"abcdef")[:10])
    with pytest.raises(StreamError, match="unexpected end"):
        decoder.finish()


def test_hijack_request_bytes() -> None:
    body = b'{"Detach":false,"Tty":true}'
    assert hijack_request("POST", "/v1.47/exec/abc/start", body, "berth-cli/0.1.0") == (
        b"POST /v1.47/exec/abc/start HTTP/1.1\r\n"
        b"Host: localhost\r\n"
        b"User-Agent: berth-cli/0.1.0\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: 27\r\n"
        b"Connection: Upgrade\r\n"
        b"Upgrade: tcp\r\n"
        b"\r\n" + body
    )


def answer(payload: bytes) -> tuple[int, dict[str, str], bytes, bytes]:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(payload)
        theirs.shutdown(socket.SHUT_WR)
        return read_response_head(ours)


def test_upgrade_keeps_bytes_sent_with_the_head() -> None:
    status, headers, rest, error = answer(
        b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
        b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nfirst bytes"
    )
    assert (status, rest, error) == (101, b"first bytes", b"")
    assert headers["upgrade"] == "tcp"


def test_error_answers_carry_their_body() -> None:
    body = b'{"message":"No such container: web"}'
    status, _, _, error = answer(
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    assert (status, error) == (404, body)
    body = b'{"message":"container is not running"}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:5], body[5:]))
    status, _, _, error = answer(
        b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    assert (status, error) == (409, body)


@pytest.mark.parametrize("payload", [b"garbage\r\n\r\n", b"HTTP/1.1 101"])
def test_malformed_answers(payload: bytes) -> None:
    with pytest.raises(StreamError):
        answer(payload)


def serve(sock: socket.socket, frames: list[bytes], echo: bool) -> threading.Thread:
    """The daemon's side: send output, then (echo) copy stdin back until its EOF."""

    def run() -> None:
        with sock:
            for frame in frames:
                sock.sendall(frame)
            if echo:
                while data := sock.recv(4096):
                    sock.sendall(encode_frame(1, data.upper()))
            sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_relay_demultiplexes_and_half_closes_stdin() -> None:
    ours, theirs = socket.socketpair()
    server = serve(theirs, [encode_frame(1, b"out\n"), encode_frame(2, b"err\n")], echo=True)
    out, err = io.BytesIO(), io.BytesIO()
    stdin = io.BytesIO(b"typed input\n")
    relay(Hijacked(ours, b""), tty=False, stdin=stdin, stdout=out, stderr=err)
    server.join(5)
    ours.close()
    assert out.getvalue() == b"out\nTYPED INPUT\n"
    assert err.getvalue() == b"err\n"


def test_relay_tty_is_raw_and_pending_bytes_come_first() -> None:
    ours, theirs = socket.socketpair()
    server = serve(theirs, [b"\x01\x02 raw tty bytes\r\n"], echo=False)
    out = io.BytesIO()
    relay(Hijacked(ours, b"early "), tty=True, stdin=None, stdout=out, stderr=io.BytesIO())
    server.join(5)
    ours.close()
    assert out.getvalue() == b"early \x01\x02 raw tty bytes\r\n"


def test_output_sink_reports_a_cut_stream() -> None:
    sink = OutputSink(tty=False, stdout=io.BytesIO(), stderr=io.BytesIO())
    sink.feed(encode_frame(1, b"abc")[:5])
    with pytest.raises(StreamError):
        sink.finish()
