# The DBCH configuration agent (MicroPython): started by main.py (dbchagent.program).
