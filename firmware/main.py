# Starts the DBCH agent: firmware/dbchagent/start.py.
import dbchagent.start  # noqa: F401
