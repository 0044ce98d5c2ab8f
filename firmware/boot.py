# Runs before main.py on every reset. The agent sets itself up in main.py, so a broken
# agent still leaves boot.py and the REPL working for mpremote to repair it.
