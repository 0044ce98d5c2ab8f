# main.py run with Ctrl-C off (dbch_main_py.c): built into the NUCLEO-WL55 image (the
# stm32 port's run-main hook, mpconfigboard.h) and into its QEMU twin (twin_image.py), so
# both start the agent the same way.
SRC_USERMOD_C += $(USERMOD_DIR)/dbch_main_py.c
CFLAGS_USERMOD += -DDBCH_MAIN_PY_CTRL_C_OFF=1
