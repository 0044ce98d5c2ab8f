# Locked mode (docs/security.md): on a locked board nothing on the link reaches the REPL.
# Ctrl-C is not an interrupt (micropython.kbd_intr(-1); where 0x03 arrives as data the
# console ignores it) and a crash resets the board instead of leaving the REPL. The lock
# is a file on flash, set by a signed `lock`. It is lifted until the next reset by a
# signed `unlock`, or by the board's unlock button (dbch_board.UNLOCK_PIN) held at reset;
# `unlock` with forget also removes the file. A lock file that cannot be read still
# locks: a damaged file must not open the board.
# Resident (tiny): main.py asks it what to do with a crash.
import micropython
from dbchagent import store

_FILE = "lock.bin"
# [in force (None: not worked out yet), what lifted it, the file there]: the last is read
# at boot and again after each lock and unlock (nothing else writes it while the agent
# runs), as every status reports it and a read of the flash costs 3 ms of a WL55's CPU.
_S = [None, None, None]


def stored():
    try:
        s = store.read(_FILE) is not None
    except ValueError:
        s = True
    _S[2] = s
    return s


def _button_held(board):
    pin = getattr(board, "UNLOCK_PIN", None)
    if pin is None:
        return False
    from machine import Pin

    level = board.UNLOCK_LEVEL
    p = Pin(pin, Pin.IN, Pin.PULL_UP if level == 0 else Pin.PULL_DOWN)
    return p.value() == level


def _set(locked, why):
    _S[0] = locked
    _S[1] = why
    try:
        micropython.kbd_intr(-1 if locked else 3)
    except AttributeError:
        pass  # a port without an interrupt character: the console ignores 0x03 itself


def boot(board):
    # First thing at start (start.py), before the agent's modules load: locked if the
    # file is there, unless the unlock button is held. Ctrl-C is off until here (main.py);
    # an unlocked board turns it back on.
    locked = stored()
    if locked and _button_held(board):
        _set(False, "button")
    else:
        _set(locked, None)


def in_force():
    if _S[0] is None:  # asked before boot() (a crash at start): the file decides
        _S[0] = stored()
    return _S[0]


def crashed(exc):
    # main.py: an exception left the agent. Unlocked, it goes on to the REPL; locked,
    # the board resets (the traceback is printed first, for whoever watches the console).
    if not in_force():
        raise exc
    import machine
    import sys

    sys.print_exception(exc)
    machine.reset()


def report(agent=None, st=None):
    s = _S[2]
    r = {"stored": stored() if s is None else s, "in_force": in_force(), "lifted_by": _S[1]}
    if st is not None:
        st["lock"] = r
    return r


def lock(agent, args):
    store.write(_FILE, b"locked")
    stored()  # read back: the report says what is on flash
    _set(True, None)
    agent.log.record("locked", None, True)
    return report()


def unlock(agent, args):
    forget = args.get("forget", False)
    if forget is not True and forget is not False:
        from dbchagent.errors import AgentError

        raise AgentError("bad_argument", "forget", "must be true or false")
    if forget:
        store.remove(_FILE)
        stored()
    _set(False, "signed")
    agent.log.record("unlocked", {"forget": forget}, True)
    return report()
