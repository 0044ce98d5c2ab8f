"""A held port serves this user's other dbch commands through its holder (link/share.py):
`dbch status` while `dbch monitor` runs; nobody else gets in (docs/security.md)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import pytest
from dbch.sim.bench import SimBoard

DBCH = str(Path(sys.executable).parent / "dbch")


@pytest.mark.unix_twin
def test_commands_reach_a_board_that_monitor_holds(hub_board: SimBoard, tmp_path: Path) -> None:
    # The user watches alerts while driving traffic from another shell: before, the
    # second command was told the port was in use.
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    tmp_path.chmod(0o700)
    mon = subprocess.Popen(
        [DBCH, "monitor", "--port", hub_board.port, "--json", "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert mon.stdout is not None
        assert '"status"' in mon.stdout.readline()  # it holds the port and reads it
        st = subprocess.run(
            [DBCH, "status", "--port", hub_board.port, "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert st.returncode == 0, st.stderr
        assert '"uptime_ms"' in st.stdout
        tr = subprocess.run(
            [
                DBCH,
                "traffic",
                "--port",
                hub_board.port,
                "--frames",
                "20",
                "--size",
                "16",
                "--interval-ms",
                "0",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        # its end comes as an event the board pushes: relayed to it by the holder
        assert tr.returncode == 0 and " of 20; refused" in tr.stdout, tr.stderr
        assert mon.poll() is None
    finally:
        mon.send_signal(signal.SIGINT)
        mon.wait(30)
    assert mon.returncode == 0
    assert not list(tmp_path.glob("dbch/port-*.sock"))  # the holder cleans up after itself


def test_the_socket_is_in_a_private_folder_and_refuses_other_users(tmp_path: Path) -> None:
    from dbch.link import share

    class Link:  # what a holder serves; never reached here
        listeners: ClassVar[list[object]] = []

    import tempfile

    run = Path(tempfile.mkdtemp(prefix="dbch-share-"))  # in /tmp: another user can reach it
    run.chmod(0o711)
    os.environ["XDG_RUNTIME_DIR"] = str(run)
    old = os.umask(0)
    refused: list[int] = []
    try:
        server = share.PortServer(Link(), "/dev/ttyTEST", on_refused=refused.append)
    finally:
        os.umask(old)
        del os.environ["XDG_RUNTIME_DIR"]
    try:
        folder = os.lstat(server.path.parent)
        assert stat.S_IMODE(folder.st_mode) == 0o700 and folder.st_uid == os.getuid()
        assert stat.S_IMODE(os.lstat(server.path).st_mode) == 0o600
        if os.getuid() != 0:
            pytest.skip("another user's connection needs root to make (the folder rule held)")
        # Another user (root can become one) is turned away by the peer check, even where
        # the folder and the socket were opened up (they would stop it first)
        server.path.parent.chmod(0o711)
        server.path.chmod(0o666)
        probe = (
            "import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX)\n"
            f"s.connect({str(server.path)!r})\n"
            "try:\n"
            "    s.sendall(b'\\x00\\x00\\x00\\x01\\xa0')\n"
            "    print('closed' if s.recv(10) == b'' else 'answered')\n"
            "except (ConnectionResetError, BrokenPipeError):\n"
            "    print('closed')\n"
        )
        out = subprocess.run(
            ["/usr/bin/python3", "-c", probe],
            capture_output=True,
            text=True,
            timeout=30,
            preexec_fn=lambda: os.setuid(65534),
        )
        assert out.stdout.strip() == "closed", out  # no answer
        deadline = time.monotonic() + 10
        while not refused and time.monotonic() < deadline:
            time.sleep(0.01)
        assert refused == [65534]
    finally:
        server.close()
        import shutil

        shutil.rmtree(run)


def test_a_squatted_socket_folder_is_refused_not_used(tmp_path: Path, monkeypatch) -> None:
    from dbch.errors import DbchError
    from dbch.link import share

    run = tmp_path / "run"
    (run / "dbch").mkdir(parents=True)
    (run / "dbch").chmod(0o777)  # someone made it first, open to all
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    with pytest.raises(DbchError, match="not a private folder"):
        share.socket_path("/dev/ttyTEST")


def test_a_dead_holders_socket_is_taken_over_and_a_live_one_is_not(
    tmp_path: Path, monkeypatch
) -> None:
    from dbch.errors import TransportError
    from dbch.link import share

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    tmp_path.chmod(0o700)

    class Link:
        listeners: ClassVar[list[object]] = []

    path = share.socket_path("/dev/ttyTEST")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))  # a holder killed with -9 leaves its socket behind
    dead.close()
    first = share.PortServer(Link(), "/dev/ttyTEST")
    try:
        with pytest.raises(TransportError, match="another holder"):
            share.PortServer(Link(), "/dev/ttyTEST")
    finally:
        first.close()
    assert not path.exists()


@pytest.mark.unix_twin
def test_a_guest_whose_holder_stops_opens_the_port_itself(hub_board: SimBoard) -> None:
    # `dbch report`-time reality: the recording is stopped while a command is using it.
    from dbch.link.client import AgentClient
    from dbch.link.share import RelayLink

    mon = subprocess.Popen(
        [DBCH, "monitor", "--port", hub_board.port, "--json", "--interval", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert mon.stdout is not None and '"status"' in mon.stdout.readline()
    with AgentClient(hub_board.port, on_console=None) as hub:
        assert isinstance(hub.link, RelayLink)
        before = hub.status()["uptime_ms"]
        mon.send_signal(signal.SIGINT)
        assert mon.wait(30) == 0
        assert hub.status()["uptime_ms"] >= before  # asked of the board directly now
        assert hub.link.direct is not None
