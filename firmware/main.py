# Starts the DBCH agent. Ctrl-C (as mpremote sends) stops it and leaves the REPL.
import dbchagent

dbchagent.main()
