"""GBCS and the SEC tables: the channel plan, the Sub GHz configuration, table versions,
their differences, and the DLMS and DUIS formats. Pure data and functions (no link)."""
