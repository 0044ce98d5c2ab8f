# The agent's CBOR encoder in C (modcborenc.c): built into the NUCLEO-WL55 image and into
# its QEMU twin (twin_image.py), so both encode replies the same way.
SRC_USERMOD_C += $(USERMOD_DIR)/modcborenc.c
