# the agent; Ctrl-C off first (docs/security.md)
import micropython;micropython.kbd_intr(-1);import dbchagent.start
