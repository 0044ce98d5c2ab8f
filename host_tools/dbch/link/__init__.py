"""The agent link: bytes over a serial URL, frames, the wire contract, typed calls. Imports
nothing of dbch but errors and paths."""
