"""Labgrid: places as ports (`labgrid:PLACE`), the agent as a labgrid driver and strategy,
and exporter configurations for benches and simulated boards. Imported only when a place
is named or labgrid loads the driver: labgrid (and grpc) are not needed otherwise."""
