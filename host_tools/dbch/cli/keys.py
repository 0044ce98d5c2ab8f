"""`dbch key show|provision|rotate`: the per-device bench key that authorises changes;
`dbch lock|unlock`: locked mode (docs/security.md), signed with that key.
Keys are never printed: only their ids (first 4 bytes of the key's SHA-256)."""

from __future__ import annotations

import argparse

from dbch.boards.deploy import provision
from dbch.cli.printing import lifted_text, print_json, progress
from dbch.link.auth import KeyStore, key_id, new_key
from dbch.link.client import AgentClient
from dbch.link.ports import resolve_port
from dbch.output import key_values


def do_key(args: argparse.Namespace) -> int:
    port = resolve_port(args.port)
    if args.action == "provision":
        kid = provision(port, args.force, progress)
        return _show(port, args.json, f"provisioned key {kid}")
    if args.action == "rotate":
        with AgentClient(port, on_console=None) as hub:
            hello = hub.hello()
            uid = hello.uid
            store = KeyStore.for_platform(hello.platform)
            key = new_key()
            store.add(uid, key)  # on the host first: a lost reply must not lose the key
            try:
                res = hub.rotate_key(key)
            except Exception:
                _keep_boards_key(hub, store, uid)
                raise
        got = bytes(res["key_id"]).hex()
        if got != key_id(key):
            progress(f"dbch: the board reports key {got}, expected {key_id(key)}")
            return 1
        return _show(port, args.json, f"rotated to key {got}")
    return _show(port, args.json, None)


def _keep_boards_key(hub: AgentClient, store: KeyStore, uid: bytes) -> None:
    """After a rotation that failed (a lost reply, a power cut), keep whichever key the
    board holds current in the store, so repeated failures never push it out."""
    try:
        held = store.find(uid, hub.auth_info()["key_id"])
    except Exception:  # the board is gone: the store keeps both keys as they are
        return
    if held is not None:
        store.add(uid, held)


def _show(port: str, as_json: bool, note: str | None) -> int:
    with AgentClient(port, on_console=None) as hub:
        hello = hub.hello()
        uid = hello.uid
        info = hub.auth_info()
    store = KeyStore.for_platform(hello.platform)
    held = info["key_id"] is not None and store.find(uid, info["key_id"]) is not None
    result = {
        "uid": uid.hex(),
        "key_id": info["key_id"],
        "counter": info["ctr"],
        "held_by_this_host": held,
        "key_store": str(store.path(uid)),
    }
    if as_json:
        print_json(result)
    else:
        if note:
            progress(note)
        print(
            key_values(
                [
                    ("uid", result["uid"]),
                    ("key id", result["key_id"] or "none"),
                    ("counter", result["counter"]),
                    ("this host holds it", "yes" if held else "no"),
                    ("key store", result["key_store"]),
                ]
            )
        )
    return 0 if held else 1


def do_lock(args: argparse.Namespace) -> int:
    with AgentClient(resolve_port(args.port)) as hub:
        return _print_lock(hub.call("lock"), args.json)


def do_unlock(args: argparse.Namespace) -> int:
    with AgentClient(resolve_port(args.port)) as hub:
        return _print_lock(hub.call("unlock", forget=args.forget), args.json)


def _print_lock(state: dict, as_json: bool) -> int:
    if as_json:
        print_json(state)
        return 0
    if state["in_force"]:
        print("locked: the link no longer reaches the REPL (docs/security.md)")
    elif state["stored"]:
        print(lifted_text(state))
    else:
        print("unlocked; no lock stored")
    return 0
