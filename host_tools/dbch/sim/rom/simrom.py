# Simulated-board ROM: what a board's C firmware does between power-on and boot.py.
# Wires the MCU to the board (machine/stm/time overlays, the bridge), mounts the flash
# image as the root littlefs filesystem (formatting blank flash, as MicroPython's _boot.py
# does) and hides the host filesystem. rom_main.py then drops this module and runs
# boot.py and main.py.
import os
import sys
import vfs


def start():
    import simmachine
    import socket
    import struct

    env = os.getenv
    buses = tuple(b.encode() for b in env("DBCH_SPI_BUSES").split(",") if b)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The unix port's connect() takes a raw struct sockaddr: sockaddr_un is the family
    # (native-endian u16) then the NUL-terminated path.
    s.connect(struct.pack("H", socket.AF_UNIX) + env("DBCH_BRIDGE").encode() + b"\0")
    simmachine.setup(s, env("DBCH_RESET_CAUSE"), bytes.fromhex(env("DBCH_UID")), buses,
                     env("DBCH_TWIN_OF"))
    sys.modules["machine"] = simmachine
    if env("DBCH_STM") == "1":
        import simstm

        sys.modules["stm"] = simstm
    scale = int(env("DBCH_CLOCK_SCALE") or "1")
    if scale != 1:
        import simclock

        simclock.setup(scale, int(env("DBCH_EPOCH0_NS")))
        sys.modules["time"] = simclock
    bs = int(env("DBCH_FLASH_BLOCK_SIZE"))
    mount(simmachine.FlashBlocks(open(env("DBCH_FLASH"), "r+b"), bs,
                                 int(env("DBCH_FLASH_BLOCKS"))))


def mount(bd, where="/"):
    # The flash as a littlefs filesystem at `where`, where the board starts (its port's
    # choice: "/" or stm32's "/flash"); blank flash is formatted first.
    try:
        fs = vfs.VfsLfs2(bd)
    except OSError:
        vfs.VfsLfs2.mkfs(bd)
        fs = vfs.VfsLfs2(bd)
    try:
        vfs.umount("/")  # the unix port's host filesystem
    except OSError:
        pass
    vfs.mount(fs, where)
    os.chdir(where)
    sys.path[:] = ["", ".frozen", where.rstrip("/") + "/lib"]
