"""Our RFC 2217 reader (dbch.link.rfc2217: whole chunks instead of pyserial's byte-by-byte
queue) against the real thing: ser2net serving a pseudo-terminal we hold the other end of.
Every byte value crosses both ways intact, 0xFF (Telnet's IAC, escaped on the wire)
included, in chunks with and without it."""

from __future__ import annotations

import os
import select
import time
import tty
from collections.abc import Iterator

import pytest
from dbch.link import rfc2217
from dbch.link.ser2net import Ser2net
from dbch.link.transport import BAUDRATE, Transport


@pytest.fixture
def served() -> Iterator[tuple[int, str]]:
    """(the pty's master fd, the rfc2217:// URL ser2net serves its other end at)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    server = Ser2net(os.ttyname(slave)).start()
    try:
        yield master, server.client_url
    finally:
        server.close()
        os.close(slave)
        os.close(master)


def read_from(port: rfc2217.Serial, size: int, timeout: float = 5.0) -> bytes:
    got = bytearray()
    deadline = time.monotonic() + timeout
    while len(got) < size and time.monotonic() < deadline:
        got += port.read(size - len(got))
    return bytes(got)


def read_master(fd: int, size: int, timeout: float = 5.0) -> bytes:
    got = bytearray()
    deadline = time.monotonic() + timeout
    while len(got) < size and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            got += os.read(fd, 65536)
    return bytes(got)


CHUNKS = [
    b"a plain line\n",  # no IAC: queued as one item
    bytes(range(256)) * 4,  # every value, 0xFF among them: through the state machine
    b"\xff" * 300,
    b"before\xff\xffafter\n",
]


def test_every_byte_reaches_the_host_intact(served: tuple[int, str]) -> None:
    master, url = served
    port = rfc2217.open_port(url, BAUDRATE, 0.2)
    try:
        for chunk in CHUNKS:
            os.write(master, chunk)
            assert read_from(port, len(chunk)) == chunk
    finally:
        port.close()


def test_every_byte_reaches_the_board_intact(served: tuple[int, str]) -> None:
    master, url = served
    port = rfc2217.open_port(url, BAUDRATE, 0.2)
    try:
        for chunk in CHUNKS:
            port.write(chunk)
            assert read_master(master, len(chunk)) == chunk
    finally:
        port.close()


def test_the_transport_reads_lines_through_it(served: tuple[int, str]) -> None:
    master, url = served
    with Transport(url) as t:
        assert isinstance(t.serial, rfc2217.Serial)
        os.write(master, b"one\n\xfftwo\nthr")
        assert t.read_line(5) == b"one\n"
        assert t.read_line(5) == b"\xfftwo\n"
        assert t.read_line(0.3) is None
        os.write(master, b"ee\n")
        assert t.read_line(5) == b"three\n"


def test_a_lost_connection_ends_reads() -> None:
    """ser2net gone (an exporter stopped): reads end, then say the connection failed."""
    import serial

    master, slave = os.openpty()
    server = Ser2net(os.ttyname(slave)).start()
    try:
        port = rfc2217.open_port(server.client_url, BAUDRATE, 0.2)
        server.close()
        time.sleep(0.3)
        with pytest.raises(serial.SerialException):  # at once or after one empty read
            for _ in range(3):
                port.read(1)
    finally:
        server.close()
        os.close(slave)
        os.close(master)
