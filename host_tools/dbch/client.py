"""Kept for scripts written against the README's earlier import path: the client lives in
`dbch.link.client`."""

from dbch.link.client import AgentClient, Hello

__all__ = ["AgentClient", "Hello"]
