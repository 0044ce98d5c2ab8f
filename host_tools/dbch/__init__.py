"""Host tools for the DBCH configuration agent.

Layers, one package each (docs/contributing.md): link (transport, frames, the wire
contract, the client) -> gbcs (channel plan, tables, GBCS and DUIS formats) -> boards ->
checks (targets, views, evidence, fleets) -> cli (the command table). Simulated boards live
in `dbch.sim`; `dbch.lab` puts the layers together for the CLI and the pytest plugin.
"""

__version__ = "0.1.0"
