# MicroPython's NUCLEO_WL55 board, with the DBCH agent frozen in and the flash split this
# project measured (docs/boards.md): the code region ends where the filesystem begins, so
# an image that does not fit fails to link instead of overwriting the filesystem.
include $(TOP)/ports/stm32/boards/NUCLEO_WL55/mpconfigboard.mk
LD_FILES = $(BOARD_DIR)/dbch_stm32wl55xc.ld boards/common_basic.ld
# The agent uses no floating point (wire values are integers: Hz, deci-dBm, ms).
MICROPY_FLOAT_IMPL = none
