"""Field trial kits: an unattended recorder (`dbch record`) that keeps each board's status
and events in an SQLite database, and the timeline and verdict read from it (`dbch report`).

`db` (the database: schema, migrations, writes, reads), `recorder` (the polling loop:
reconnects, resets, outages, the event log's generations and gaps), `timeline` (what the
record says, hour by hour, and the verdict), `render` (HTML with charts, for a browser or
PDF). docs/kit.md is the field engineer's guide.
"""
