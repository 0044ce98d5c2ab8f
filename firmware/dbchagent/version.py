# Firmware version; the content hash is computed at build time (dbch_build.FW_HASH).
VERSION = "0.1.0"
PROTOCOL = 1
