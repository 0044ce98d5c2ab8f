# Starts the DBCH agent (dbchagent/start.py). Ctrl-C off first: a stock port turns it on
# for this file, and a locked board must not reach the REPL before start.py's `try`.
import micropython;micropython.kbd_intr(-1);import dbchagent.start  # noqa: E401,E702,F401
