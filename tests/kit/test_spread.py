"""The spreader writes each chunk once, to its own socket, and reports what each socket took."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from scoreboard.kit.spread import FAILED, Spreader


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made = [socket.socketpair() for _ in range(300)]
    for ours, _ in made:
        ours.setblocking(False)
    yield made
    for ours, theirs in made:
        ours.close()
        theirs.close()


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_every_socket_gets_its_own_chunk_once(pairs: list[tuple[socket.socket, socket.socket]], threads: int) -> None:
    spreader = Spreader(threads)
    try:
        chunks = [f"chunk {i}\n".encode() for i in range(len(pairs))]
        sent = spreader.write([ours.fileno() for ours, _ in pairs], chunks)
    finally:
        spreader.close()
    assert sent == [len(chunk) for chunk in chunks]
    assert [theirs.recv(100) for _, theirs in pairs] == chunks


def test_a_full_socket_takes_part_or_nothing_and_a_closed_one_fails() -> None:
    (full, full_peer), (gone, gone_peer), (fine, fine_peer) = (socket.socketpair() for _ in range(3))
    for ours in (full, gone, fine):
        ours.setblocking(False)
    try:
        while True:  # fill `full` until the kernel refuses more
            try:
                full.send(b"x" * 65536)
            except BlockingIOError:
                break
        gone_peer.close()
        spreader = Spreader(1)
        big = b"y" * 1_000_000
        try:
            sent = spreader.write([full.fileno(), gone.fileno(), fine.fileno()], [big, b"z", b"ok"])
        finally:
            spreader.close()
        assert 0 <= sent[0] < len(big)  # it would block: nothing or a part, never an error
        assert sent[1] == FAILED
        assert sent[2] == 2
        assert fine_peer.recv(10) == b"ok"
    finally:
        for s in (full, full_peer, gone, fine, fine_peer):
            s.close()


@pytest.mark.parametrize("threads", [0, 1])
def test_a_negative_descriptor_is_skipped(pairs: list[tuple[socket.socket, socket.socket]], threads: int) -> None:
    (one, one_peer), (two, two_peer) = pairs[:2]
    spreader = Spreader(threads)
    try:
        sent = spreader.write([one.fileno(), -1, two.fileno()], [b"a", b"skipped", b"b"])
    finally:
        spreader.close()
    assert sent == [1, 0, 1]
    assert (one_peer.recv(10), two_peer.recv(10)) == (b"a", b"b")
