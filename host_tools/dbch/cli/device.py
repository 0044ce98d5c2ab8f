"""Commands that talk to one agent: hello, status, console, deploy, serve-port."""

from __future__ import annotations

import argparse
import signal
import time
from typing import Any

from dbch.cli.printing import (
    device_text,
    lifted_text,
    print_json,
    print_json_line,
    progress,
    utc_now,
)
from dbch.errors import DbchError, ProtocolError
from dbch.gbcs.alerts import describe_event
from dbch.link.client import AgentClient
from dbch.link.frames import KIND_EVENT, decode_frame, split_line
from dbch.link.ports import resolve_port
from dbch.link.transport import Transport
from dbch.output import key_values


def do_hello(args: argparse.Namespace) -> int:
    with AgentClient(resolve_port(args.port)) as hub:
        hello = hub.hello()
    if args.json:
        print_json(hello.as_dict())
    else:
        print(key_values(hello.as_dict().items()))
    return 0


def format_status(st: dict[str, Any]) -> str:
    heap = st.get("heap", {})
    fw = st.get("fw", {})
    counters = st.get("counters", {})
    rows = [
        ("firmware", f"{fw.get('version')} ({(fw.get('hash') or 'unbuilt')[:12]})"),
        ("uptime", f"{st.get('uptime_ms', 0) / 1000:.1f} s"),
        ("reset cause", st.get("reset_cause")),
        (
            "heap",
            f"{heap.get('used', 0) / 1024:.1f} KB in use of {heap.get('total', 0) // 1024} KB"
            f" (most {heap.get('used_max', 0) / 1024:.1f} KB)",
        ),
        ("counters", ", ".join(f"{k} {v}" for k, v in sorted(counters.items())) or "none"),
    ]
    lock = st.get("lock")
    if lock:
        text = "locked: no REPL over the link" if lock["in_force"] else "not locked"
        if lock["stored"] and not lock["in_force"]:
            text = lifted_text(lock)
        rows.append(("lock", text))
    auth = st.get("auth")
    if auth and (auth["counter_damaged"] or auth["counter_copies"] == 1):
        rows.append(
            (
                "request counter",
                "DAMAGED: every change is refused"
                if auth["counter_damaged"]
                else "one of its two copies is damaged",
            )
        )
    if "radio" in st:  # the hub's sections
        rows += _hub_rows(st)
    return key_values(rows)


def _hub_rows(st: dict[str, Any]) -> list[tuple[str, Any]]:
    cfg, ch, radio, duty = st.get("config"), st.get("channel"), st["radio"], st["duty"]
    rows: list[tuple[str, Any]] = []
    if cfg:
        rows.append(("config", f"{cfg['table']} {cfg['region'] or ''} (hash {cfg['hash'][:12]})"))
    else:
        rows.append(("config", f"none: {st.get('config_problem') or 'unconfigured'}"))
    if ch:
        rows.append(
            (
                "channel",
                f"page {ch['page']} channel {ch['channel']}, "
                f"{ch['freq_hz'] / 1e6:.2f} MHz (word 0x{ch['word']:08X})",
            )
        )
    state = radio["state"] + (f" ({radio['reason']})" if radio.get("reason") else "")
    rows.append(("radio", state))
    rb = radio.get("readback")
    if rb:
        rows.append(
            (
                "readback",
                f"{rb['freq_hz'] / 1e6:.6f} MHz, {rb['bitrate']} bps, "
                f"dev {rb['fdev_hz']} Hz, {rb['power_dbm']} dBm, "
                f"{rb['packet_type']}, sync 0x{rb['sync_word']:04X}",
            )
        )
        rows.append(("", f"verified from the chip: {', '.join(rb['verified'])}"))
        if rb["shadow"]:
            rows.append(("", f"from the driver's shadow: {', '.join(rb['shadow'])}"))
    limits = ""
    if "regulated_ms" in duty:
        limits = (
            f" (limited {duty['limited_ms'] / 1000:g} s, critical "
            f"{duty['critical_ms'] / 1000:g} s, regulated {duty['regulated_ms'] / 1000:g} s)"
        )
    rows.append(
        (
            "duty cycle",
            f"{duty['state']}: {duty['usage_ms'] / 1000:g} s of airtime this "
            f"hour{limits}" + (f"; {duty['problem']}" if duty.get("problem") else ""),
        )
    )
    if st.get("traffic"):
        t = st["traffic"]
        rows.append(("traffic", f"running: {t['sent']} of {t['frames']} sent"))
    return rows


def do_status(args: argparse.Namespace) -> int:
    with AgentClient(resolve_port(args.port)) as hub:
        st = hub.status()
    if args.json:
        print_json(st)
    else:
        print(format_status(st))
    return 0


def do_console(args: argparse.Namespace) -> int:
    port = resolve_port(args.port)
    deadline = time.monotonic() + args.seconds if args.seconds is not None else None
    progress(f"console of {port} (Ctrl-C to stop)")
    with Transport(port) as t:
        while deadline is None or time.monotonic() < deadline:
            line = t.read_line(0.2 if deadline is None else max(0.0, deadline - time.monotonic()))
            if line is None:
                continue
            text, frame_text = split_line(line)
            if text:
                if args.json:  # JSON Lines, each with the host's UTC time
                    print_json_line({"utc": utc_now(), "kind": "text", "text": device_text(text)})
                else:
                    print(device_text(text), flush=True)
            if frame_text is not None:
                try:
                    frame = decode_frame(frame_text)
                except ProtocolError as e:
                    if args.json:
                        print_json_line({"utc": utc_now(), "kind": "bad_frame", "error": str(e)})
                    else:
                        print(f"<bad frame: {e}>", flush=True)
                    continue
                if frame.kind == KIND_EVENT:
                    body = frame.decode_body()
                    if args.json:
                        print_json_line({"utc": utc_now(), "kind": "event", "event": body})
                        continue
                    shown = describe_event(body) if isinstance(body, dict) else repr(body)
                    print(f"<event {shown}>", flush=True)
    return 0


def do_deploy(args: argparse.Namespace) -> int:
    from dbch.boards.deploy import deploy  # mpremote: imported by the one command using it

    port = resolve_port(args.port)
    report = deploy(  # without --board, the board says what it is (boards/identity.py)
        port,
        args.board,
        form="py" if args.source else "mpy",
        progress=progress,
        wait=not args.no_wait,
        watchdog_ms=args.watchdog,
    )
    result = {
        "port": report.port,
        "board": report.board,
        "simulated": report.simulated,
        "machine": report.machine,
        "form": report.form,
        "copied": report.copied,
        "deleted": report.deleted,
        "unchanged": len(report.unchanged),
        "bytes_copied": report.bytes_copied,
        "fw_hash": report.hello.fw_hash if report.hello else None,
    }
    if args.json:
        print_json(result)
    else:
        ready = f", agent ready (firmware {result['fw_hash'][:12]})" if report.hello else ""
        print(
            f"deployed to {report.board}{' (simulated)' if report.simulated else ''} at "
            f"{port}: {len(report.copied)} copied "
            f"({report.bytes_copied} B), {result['unchanged']} unchanged, "
            f"{len(report.deleted)} deleted{ready}"
        )
    return 0


def _stop_serving(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def do_serve_port(args: argparse.Namespace) -> int:
    from dbch.link.ser2net import Ser2net

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise DbchError(f"--listen {args.listen!r}: give HOST:PORT")
    # Ctrl-C, SIGTERM and SIGHUP (a service manager, a closed terminal) end it through the
    # `with`, which stops ser2net: exit 0, a requested stop, as for the other streams.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_serving)
    with Ser2net(resolve_port(args.port), host, int(port), rfc2217=not args.raw) as server:
        print(server.client_url, flush=True)
        progress(f"ser2net serves {args.port} at {server.client_url} (Ctrl-C to stop)")
        deadline = None if args.seconds is None else time.monotonic() + args.seconds
        while deadline is None or time.monotonic() < deadline:
            if server.proc is not None and server.proc.poll() is not None:
                raise DbchError(f"ser2net stopped (exit {server.proc.returncode})")
            time.sleep(0.2)
    return 0
