# Simulated-board ROM: what a board's C firmware does between power-on and boot.py.
# Wires the MCU to the board (bridge, machine/stm/time overlays), mounts the flash image
# as the root littlefs filesystem (formatting blank flash, as MicroPython's _boot.py
# does), hides the host filesystem, then runs boot.py and main.py like pyexec does.
import os
import sys
import vfs

_env = os.getenv


class FlashBlocks:
    # A board's flash as a file-backed block device with littlefs's extended interface.
    def __init__(self, f, block_size, count):
        self._f = f
        self._bs = block_size
        self._n = count

    def readblocks(self, n, buf, off=0):
        self._f.seek(n * self._bs + off)
        self._f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        if off is None:
            self.ioctl(6, n)
            off = 0
        self._f.seek(n * self._bs + off)
        self._f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self._n
        if op == 5:  # block size
            return self._bs
        if op == 6:  # erase
            self._f.seek(arg * self._bs)
            self._f.write(b"\xff" * self._bs)
            return 0
        return 0


def _wire():
    import simbridge
    import simmachine

    bridge = simbridge.Bridge(_env("DBCH_BRIDGE"))
    buses = tuple(b.encode() for b in _env("DBCH_SPI_BUSES").split(",") if b)
    simmachine.setup(bridge, _env("DBCH_RESET_CAUSE"), bytes.fromhex(_env("DBCH_UID")), buses)
    sys.modules["machine"] = simmachine
    if _env("DBCH_STM") == "1":
        import simstm

        simstm.setup(bridge)
        sys.modules["stm"] = simstm
    scale = int(_env("DBCH_CLOCK_SCALE") or "1")
    if scale != 1:
        import simclock

        simclock.setup(scale, int(_env("DBCH_EPOCH0_NS")))
        sys.modules["time"] = simclock
    return bridge


def _mount():
    bs = int(_env("DBCH_FLASH_BLOCK_SIZE"))
    bd = FlashBlocks(open(_env("DBCH_FLASH"), "r+b"), bs, int(_env("DBCH_FLASH_BLOCKS")))
    try:
        fs = vfs.VfsLfs2(bd)
    except OSError:
        vfs.VfsLfs2.mkfs(bd)
        fs = vfs.VfsLfs2(bd)
    vfs.umount("/")
    vfs.mount(fs, "/")
    os.chdir("/")
    sys.path[:] = ["", "/lib"]


def _run(name, g):
    try:
        os.stat(name)
    except OSError:
        return True
    try:
        with open(name) as f:
            src = f.read()
        exec(src, g)
    except SystemExit:
        return False  # sys.exit() in boot.py/main.py soft-resets the board
    except BaseException as e:  # KeyboardInterrupt included: show it, keep the REPL
        sys.print_exception(e)
    return True


def boot(g):
    bridge = _wire()
    _mount()
    g.pop("simrom", None)
    import gc

    gc.collect()  # boot garbage is not the firmware's
    bridge.booted()  # like USB enumerating: only now can the host's bytes (Ctrl-C) arrive
    if _run("boot.py", g) and _run("main.py", g):
        return
    bridge.reset(b"s")
    while True:
        import time

        time.sleep(1)
