# The DBCH configuration agent (MicroPython). Started by main.py: app.main().
