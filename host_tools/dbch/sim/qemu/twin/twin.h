// Force-included (-include) into every C file of a QEMU twin build, after the board's
// feature fragment. Only what a twin needs to exist: idle by WFI instead of a busy wait
// (one QEMU process would otherwise hold a whole host core), and the start-up hook that
// runs the twin ROM, boot.py and main.py as a board's firmware does.
#ifndef DBCH_TWIN_H
#define DBCH_TWIN_H
#define MICROPY_INTERNAL_WFE(TIMEOUT_MS) __asm__ volatile ("wfi")
void dbch_twin_start(void);
#define MICROPY_PORT_INIT_FUNC dbch_twin_start()
// time.time() and gmtime() read the host's clock, as a board's read its RTC (every board
// the agent runs on has them; the qemu port leaves them out)
#define MICROPY_PY_TIME_INCLUDEFILE DBCH_TWIN_TIME_C
#ifndef MICROPY_PY_TIME_GMTIME_LOCALTIME_MKTIME
#define MICROPY_PY_TIME_GMTIME_LOCALTIME_MKTIME (1)
#endif
#ifndef MICROPY_PY_TIME_TIME_TIME_NS
#define MICROPY_PY_TIME_TIME_TIME_NS (1)
#endif
#endif
