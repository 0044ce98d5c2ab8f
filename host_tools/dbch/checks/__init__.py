"""Checking boards against the tables: targets and their bench protocols, the three views,
evidence (JSON, JUnit, HTML) and fleets. Never imports the simulator."""
