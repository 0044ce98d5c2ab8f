"""Host tools for the DBCH configuration agent.

Layers, one module each: transport (bytes over serial_for_url) -> protocol (frames, CBOR,
error codes) -> client (typed calls) -> checks -> cli. Simulated boards live in `dbch.sim`.
"""

__version__ = "0.1.0"
