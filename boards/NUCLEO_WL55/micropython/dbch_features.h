// The MicroPython features of the NUCLEO-WL55 agent image, shared by the board build
// (mpconfigboard.h) and its QEMU twin (-include), so the twin runs the same language the
// board does. Each line that turns a feature off was measured (docs/boards.md, "Fitting
// the NUCLEO-WL55"); none of them is a check the agent relies on.
#ifndef DBCH_FEATURES_H
#define DBCH_FEATURES_H

// What MicroPython's own NUCLEO_WL55 definition turns off, repeated so the QEMU twin has the
// same (its emitter settings are the port's and stay: the agent has no native code).
#define MICROPY_PY_BUILTINS_COMPLEX         (0)
#define MICROPY_PY_GENERATOR_PEND_THROW     (0)
#define MICROPY_PY_MATH                     (0)
#define MICROPY_PY_FRAMEBUF                 (0)
#define MICROPY_PY_SOCKET                   (0)
#define MICROPY_PY_NETWORK                  (0)
#define MICROPY_PY_ONEWIRE                  (0)
#define MICROPY_PY_HEAPQ                    (0)

// The stm32 port's VM dispatch (its mpconfigport.h: a jump table of labels, not a switch),
// which the qemu port leaves off: the twin's VM then runs the instructions the board's does.
#define MICROPY_OPT_COMPUTED_GOTO           (1)

// Modules the agent, mpremote and dbch deploy never import. (deflate stays: binascii.crc32,
// which checks every frame of the link, is built only with it.)
#define MICROPY_PY_JSON                     (0)
#define MICROPY_PY_RE                       (0)
#define MICROPY_PY_UCTYPES                  (0)
#define MICROPY_PY_ASYNCIO                  (0)
#define MICROPY_PY_PLATFORM                 (0)
// The stm32 port's legacy pyb module: the agent uses machine and stm.
#define MICROPY_PY_PYB                      (0)
#define MICROPY_PY_COLLECTIONS              (0)
#define MICROPY_PY_ERRNO                    (0)
#define MICROPY_PY_ARRAY                    (0)  // the module; bytearray and memoryview stay
#define MICROPY_PY_MICROPYTHON_RINGIO       (0)
#define MICROPY_PY_MACHINE_BITSTREAM        (0)
#define MICROPY_PY_MACHINE_MEM_BACKUP       (0)

// Language extras (ROM level "extra features") that neither the agent nor the code
// mpremote and dbch deploy run on the board use.
#define MICROPY_PY_ASYNC_AWAIT              (0)
#define MICROPY_PY_FUNCTION_ATTRS           (0)
#define MICROPY_PY_DESCRIPTORS              (0)
#define MICROPY_PY_FSTRINGS                 (0)
#define MICROPY_PY_ALL_SPECIAL_METHODS      (0)
#define MICROPY_PY_REVERSE_SPECIAL_METHODS  (0)
#define MICROPY_PY_BUILTINS_STR_CENTER      (0)
#define MICROPY_PY_BUILTINS_STR_SPLITLINES  (0)
#define MICROPY_PY_BUILTINS_SLICE_ATTRS     (0)
#define MICROPY_PY_BUILTINS_SLICE_INDICES   (0)
#define MICROPY_PY_BUILTINS_FROZENSET       (0)
#define MICROPY_PY_BUILTINS_SET             (0)  // nor set: the agent, mpremote, deploy use none
#define MICROPY_PY_BUILTINS_ROUND_INT       (0)
#define MICROPY_PY_BUILTINS_COMPILE         (0)
#define MICROPY_PY_BUILTINS_EXECFILE        (0)
#define MICROPY_PY_BUILTINS_NOTIMPLEMENTED  (0)
#define MICROPY_PY_BUILTINS_INPUT           (0)
#define MICROPY_PY_BUILTINS_POW3            (0)
#define MICROPY_PY_BUILTINS_HELP            (0)

// The wall clock the agent stamps events and duty-cycle records with (the port's RTC).
#define MICROPY_PY_TIME_GMTIME_LOCALTIME_MKTIME (1)
#define MICROPY_PY_TIME_TIME_TIME_NS        (1)

// Python frames on a stack of their own, not on the heap: every call of a function with more
// than 11 words of locals and stack otherwise allocates its frame from the heap and frees it
// on return, at a cost that follows the heap's fragmentation (the gate's before() took 178
// or 383 us a frame, measured on the twin at 31.25 MIPS, depending on what ran before it).
// 3 KB (the board's linker script reserves it; the twin's is this size): 464 words at the
// agent's peak, measured on the twin; the port's main.c's 384 words ran out at the first
// apply. Set up by main_py/dbch_main_py.c.
#define MICROPY_ENABLE_PYSTACK              (1)
#define DBCH_PYSTACK_WORDS                  (768)
void dbch_pystack_init(void);

// Kept on purpose, whatever it costs: the agent refuses invalid UTF-8 through it.
#define MICROPY_PY_BUILTINS_STR_UNICODE_CHECK (1)

#endif
