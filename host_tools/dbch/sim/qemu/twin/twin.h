// Force-included (-include) into every C file of a QEMU twin build, after the board's
// feature fragment. Only what a twin needs to exist: idle by WFI instead of a busy wait
// (one QEMU process would otherwise hold a whole host core), and the start-up hook that
// runs the twin ROM, boot.py and main.py as a board's firmware does.
#ifndef DBCH_TWIN_H
#define DBCH_TWIN_H
#define MICROPY_INTERNAL_WFE(TIMEOUT_MS) __asm__ volatile ("wfi")
void dbch_twin_start(void);
#define MICROPY_PORT_INIT_FUNC dbch_twin_start()
// time.time() and gmtime() read the host's clock, as a board's read its RTC
#define MICROPY_PY_TIME_INCLUDEFILE DBCH_TWIN_TIME_C
#endif
