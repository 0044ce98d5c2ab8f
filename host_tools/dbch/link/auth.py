"""Per-device bench keys and authenticated requests (docs/protocol.md, "Authorisation").

Requests that change a board (spec.PROTECTED) travel inside
an `auth` request: HMAC-SHA256 over (domain, the board's unique id, a counter, the inner
request's CBOR bytes) with the board's key. The board keeps the last counter on flash and
refuses anything not above it.

Keys live in a key store on the host: one JSON file per board unique id, readable by the
owner only, under $DBCH_KEYS (default ~/.local/state/dbch/keys; a simulated board's under
$DBCH_SIM_HOME/keys). A key is never printed,
logged or put in a report; tools show its id (the first 4 bytes of its SHA-256).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# hashlib, hmac and secrets are imported where used: `dbch status` and other reads never
# sign anything, and every query pays for what its process imports.

DOMAIN = b"dbch-auth-v1"
ROTATE = b"dbch-rotate-v1"
KEY_BYTES = 32
KEEP = 3  # the current key and the two before it (a rotation cut short by a power cut)


# sys.platform of the simulated twins (the unix and QEMU ports); real boards say rp2,
# esp32, pyboard. Their keys are kept with the simulated bench, apart from real boards'.
SIMULATED_PLATFORMS = frozenset({"linux", "darwin", "qemu"})


def keys_dir(platform: str | None = None) -> Path:
    """$DBCH_KEYS when set (for every board); else a simulated board's keys under the
    simulated bench ($DBCH_SIM_HOME/keys) and a real board's under ~/.local/state/dbch/keys."""
    env = os.environ.get("DBCH_KEYS")
    if env:
        return Path(env)
    if platform in SIMULATED_PLATFORMS:
        from dbch.paths import sim_home

        return sim_home() / "keys"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "dbch" / "keys"


def key_id(key: bytes) -> str:
    import hashlib

    return hashlib.sha256(key).digest()[:4].hex()


def new_key() -> bytes:
    import secrets

    return secrets.token_bytes(KEY_BYTES)


def mac(key: bytes, uid: bytes, ctr: int, inner: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(key, DOMAIN + uid + ctr.to_bytes(8, "big") + inner, hashlib.sha256).digest()


def rotation_pad(old_key: bytes, uid: bytes, ctr: int) -> bytes:
    """The mask the new key travels under: only holders of the old key can make it, and it
    is bound to this board and this request's counter."""
    import hashlib
    import hmac

    return hmac.new(old_key, ROTATE + uid + ctr.to_bytes(8, "big"), hashlib.sha256).digest()


class KeyStore:
    def __init__(self, root: Path | None = None, earlier: Path | None = None):
        self.root = root or keys_dir()
        # Where this host kept such keys before (simulated boards' keys were kept with real
        # boards' until 0.1): read when the store has none for a board, never written.
        self.earlier = earlier

    @classmethod
    def for_platform(cls, platform: str | None) -> KeyStore:
        """The store for a board whose agent reports this sys.platform."""
        root = keys_dir(platform)
        earlier = keys_dir() if root != keys_dir() else None
        return cls(root, earlier)

    def path(self, uid: bytes) -> Path:
        return self.root / f"{uid.hex()}.json"

    def keys(self, uid: bytes) -> list[bytes]:
        """Newest first."""
        for path in (self.path(uid), self.earlier and self.earlier / self.path(uid).name):
            if path is None:
                continue
            try:
                data = json.loads(path.read_text())
            except FileNotFoundError:
                continue
            return [bytes.fromhex(k) for k in data.get("keys", [])]
        return []

    def current(self, uid: bytes) -> bytes | None:
        keys = self.keys(uid)
        return keys[0] if keys else None

    def find(self, uid: bytes, kid: str | None) -> bytes | None:
        return next((k for k in self.keys(uid) if key_id(k) == kid), None)

    def add(self, uid: bytes, key: bytes) -> None:
        """Make `key` the current key for `uid`, keeping the previous ones."""
        keys = [key] + [k for k in self.keys(uid) if k != key]
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path(uid)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"uid": uid.hex(), "keys": [k.hex() for k in keys[:KEEP]]}, f)
        os.replace(tmp, path)
