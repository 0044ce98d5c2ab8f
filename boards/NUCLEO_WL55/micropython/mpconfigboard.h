// The NUCLEO-WL55 as the DBCH agent runs on it: MicroPython's own board definition, then
// the MicroPython features the agent uses (dbch_features.h, shared with the board's QEMU
// twin so both run the same language). Built by `make firmware BOARD=NUCLEO_WL55`.
#include "boards/NUCLEO_WL55/mpconfigboard.h"

// The hub stand-in has no I2C devices: without pins, the port leaves hardware I2C out.
#undef MICROPY_HW_I2C1_SCL
#undef MICROPY_HW_I2C1_SDA
#undef MICROPY_HW_I2C3_SCL
#undef MICROPY_HW_I2C3_SDA
#include "dbch_features.h"

// The agent starts with Ctrl-C off: main.py runs through main_py/dbch_main_py.c, not
// pyexec (which turns Ctrl-C on for it), so a locked board has no boot window.
struct _boardctrl_state_t;
int dbch_board_run_main_py(struct _boardctrl_state_t *state);
#define MICROPY_BOARD_RUN_MAIN_PY dbch_board_run_main_py
// The agent's own Python stack (main_py/dbch_main_py.c), in place of the port's before boot.py
int dbch_board_run_boot_py(struct _boardctrl_state_t *state);
#define MICROPY_BOARD_RUN_BOOT_PY dbch_board_run_boot_py
