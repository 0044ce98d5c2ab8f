# Starts the DBCH agent. Ctrl-C (as mpremote sends) stops it and leaves the REPL.
from dbchagent.program import main

main()
