"""The CSP regions the tables are keyed by, and the duty-cycle window: facts every layer
and the command line need, kept in a module that imports nothing."""

REGIONS = ("north", "central", "south")
# Duty cycle is counted over the last hour (docs/reference.md §3); checks look this far back.
HOUR_S = 3600.0
