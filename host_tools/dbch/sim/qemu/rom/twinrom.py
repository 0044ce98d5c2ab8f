# The QEMU twin's ROM (frozen into twins, never into a board image): what a board's C
# firmware does between reset and boot.py. Started by _twin_boot.py from the C start-up
# hook (modtwin.c), as a module of its own so that nothing here lives in __main__'s
# globals (which mpremote and dbch deploy clear). Wires
# machine/stm/time to the board (the bridge on UART1), mounts the flash image (a host file
# over semihosting, _twin.Flash) as the root littlefs filesystem, then tells the
# supervisor the board is up.
import sys
import _twin
import simmachine
import simrom


class _Bridge:
    # UART1 to the supervisor, as simmachine wants it (the unix twin uses a socket)
    def write(self, b):
        _twin.bridge_write(b)

    def read(self, n):
        b = bytearray(n)
        _twin.bridge_readinto(b, n)
        return b

    def readinto(self, b, n=-1):
        _twin.bridge_readinto(b, n)


def start():
    simmachine.setup(_Bridge(), None, b"", ())
    cfg = simmachine.config()
    if int(cfg["hold_back"]):
        # Heap kept from the firmware (bench: the least heap that still works), taken
        # first so it sits at the heap's start and fragments nothing.
        simmachine._hold = bytearray(int(cfg["hold_back"]))
    simmachine.setup(
        simmachine._s,
        cfg["cause"],
        bytes.fromhex(cfg["uid"]),
        tuple(b.encode() for b in cfg["buses"].split(",") if b),
        cfg["twin_of"],
    )
    sys.modules["machine"] = simmachine
    if cfg["stm"] == "1":
        import simstm

        sys.modules["stm"] = simstm
    # (in C, as a board's flash driver is: modtwin.c)
    flash = _twin.Flash(cfg["flash"], int(cfg["block_size"]), int(cfg["blocks"]))
    simrom.mount(flash, cfg["mount"])
    simmachine.booted()
    del sys.modules["simrom"]
