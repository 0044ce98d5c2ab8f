# Runs before main.py on every reset; the agent starts in main.py.
