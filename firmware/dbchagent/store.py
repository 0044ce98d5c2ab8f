# Power-loss-safe files on the board's flash. A write goes to NAME.new, which is then
# renamed over NAME: littlefs renames are atomic, so after a power cut at any instant the
# file is the old one or the new one, never a mix. Each file carries a SHA-256 of its body
# so a damaged file is recognised instead of being trusted.
import hashlib
import os

# Relative to the directory the board starts in: "/" on most ports, "/flash" on stm32.
# dbch_board.DATA_DIR: "data", or "" (the top directory) on boards whose filesystem has no
# block to spare for a directory (a directory costs two: the WL55, docs/boards.md).
try:
    from dbch_board import DATA_DIR as DIR
except ImportError:
    DIR = "data"
_MAGIC = b"DBC1"


def path(name):
    return DIR + "/" + name if DIR else name


def ensure_dir():
    if not DIR:
        return
    try:
        os.mkdir(DIR)
    except OSError:
        pass  # exists


def write(name, body):
    ensure_dir()
    p = path(name)
    with open(p + ".new", "wb") as f:
        f.write(_MAGIC)
        f.write(hashlib.sha256(body).digest())
        f.write(body)
    os.rename(p + ".new", p)


def read(name):
    # The body, None if the file does not exist; raises ValueError if it is damaged.
    try:
        f = open(path(name), "rb")
    except OSError:
        return None
    with f:
        data = f.read()
    if data[:4] != _MAGIC or len(data) < 36:
        raise ValueError("bad header")
    body = data[36:]
    if hashlib.sha256(body).digest() != data[4:36]:
        raise ValueError("hash mismatch")
    return body


def remove(name):
    for p in (path(name), path(name) + ".new"):
        try:
            os.remove(p)
        except OSError:
            pass


def clean():
    # A .new left by a power cut before its rename is an unfinished write: drop it.
    try:
        names = os.listdir(DIR or ".")
    except OSError:
        return
    for n in names:
        if n.endswith(".new"):
            try:
                os.remove(path(n))
            except OSError:
                pass
