# The QEMU twin's C module (USER_C_MODULES): what a board's C firmware gives the agent and
# the qemu port lacks. Built into twins only, never into a board image.
TWIN_MOD_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(TWIN_MOD_DIR)/modtwin.c
# gmtime/mktime, which the board's port has and the qemu port does not build
SRC_USERMOD_LIB_C += $(TOP)/shared/timeutils/timeutils.c
# the port's console reads go through the twin's receive interrupt first, and its writes
# wait for the transmit interrupt (modtwin.c)
LDFLAGS_USERMOD += --wrap=uart_rx_chr --wrap=uart_rx_any --wrap=uart_tx_strn
