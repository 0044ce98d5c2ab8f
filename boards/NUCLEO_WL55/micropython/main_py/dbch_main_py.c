// main.py with Ctrl-C off, for the image this project builds (docs/security.md, "The boot
// window"). A stock port runs main.py through pyexec (shared/runtime/pyexec.c), which turns
// the interrupt character on before the file's first statement: a Ctrl-C arriving then,
// before the agent's lock has decided, stops a locked board at the REPL. Here main.py runs
// with the interrupt character off; the agent's lock turns it back on for an unlocked board
// (dbchagent/lock.py), so deploy and mpremote still reach the REPL there.
#include "py/builtin.h"
#include "py/compile.h"
#include "py/lexer.h"
#include "py/runtime.h"
#include "shared/runtime/interrupt_char.h"
#include "shared/runtime/pyexec.h"

// As pyexec_file_if_exists("main.py"): 1 ran (or no main.py), 0 an exception (printed),
// PYEXEC_FORCED_EXIT for sys.exit() (a soft reset).
int dbch_exec_main_py(void) {
    if (mp_import_stat("main.py") != MP_IMPORT_STAT_FILE) {
        return 1;
    }
    int ret = 1;
    nlr_buf_t nlr;
    mp_hal_set_interrupt_char(-1);
    if (nlr_push(&nlr) == 0) {
        mp_lexer_t *lex = mp_lexer_new_from_file(qstr_from_str("main.py"));
        mp_parse_compile_execute(lex, MP_PARSE_FILE_INPUT, mp_globals_get(), mp_locals_get());
        mp_handle_pending(true);  // callbacks scheduled by the run, as pyexec does
        nlr_pop();
    } else {
        mp_obj_t exc = MP_OBJ_FROM_PTR(nlr.ret_val);
        if (mp_obj_is_subclass_fast(MP_OBJ_FROM_PTR(mp_obj_get_type(exc)),
            MP_OBJ_FROM_PTR(&mp_type_SystemExit))) {
            ret = PYEXEC_FORCED_EXIT;
        } else {
            mp_obj_print_exception(&mp_plat_print, exc);
            ret = 0;
        }
    }
    mp_hal_set_interrupt_char(-1);  // as pyexec leaves it for the REPL
    return ret;
}

#if MICROPY_ENABLE_PYSTACK
// The agent's Python stack (dbch_features.h), set up before any Python runs after each
// reset: on the board by its boot hook below, on its QEMU twin by the twin's start-up.
#if defined(STM32WL)
// The board's linker script reserves it (dbch_stm32wl55xc.ld), with the port's own 384
// words (main.c's) as its first part.
extern uint8_t _dbch_pystack_start, _dbch_pystack_end;

void dbch_pystack_init(void) {
    mp_pystack_init(&_dbch_pystack_start, &_dbch_pystack_end);
}
#else
static mp_obj_t dbch_pystack[DBCH_PYSTACK_WORDS];

void dbch_pystack_init(void) {
    mp_pystack_init(dbch_pystack, &dbch_pystack[DBCH_PYSTACK_WORDS]);
}
#endif
#endif

#if defined(STM32WL)
#include "boardctrl.h"

// MICROPY_BOARD_RUN_BOOT_PY (mpconfigboard.h): the port's main.c gives Python frames a
// 384-word stack, which the agent outgrows (`pystack exhausted` at its first apply,
// measured on the twin); the board's own replaces it before boot.py, with nothing on it.
int dbch_board_run_boot_py(boardctrl_state_t *state) {
    dbch_pystack_init();
    return boardctrl_run_boot_py(state);
}

// MICROPY_BOARD_RUN_MAIN_PY (mpconfigboard.h), in place of boardctrl_run_main_py: main.py
// only (not pyb.main()'s choice), and only in the friendly REPL, as the stock hook.
int dbch_board_run_main_py(boardctrl_state_t *state) {
    (void)state;
    if (pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL &&
        (dbch_exec_main_py() & PYEXEC_FORCED_EXIT)) {
        return BOARDCTRL_GOTO_SOFT_RESET_EXIT;
    }
    return BOARDCTRL_CONTINUE;
}
#endif
