// The QEMU twin's `time` clock functions (MICROPY_PY_TIME_INCLUDEFILE, twin.h), as the
// stm32 port's modtime.c gives them from the RTC: here the RTC is the host's clock, read by
// semihosting (mp_hal_time_ns, modtwin.c). Same epoch as the board's port.
#include "shared/timeutils/timeutils.h"

static void mp_time_localtime_get(timeutils_struct_time_t *tm) {
    timeutils_seconds_since_epoch_to_struct_time(
        timeutils_seconds_since_epoch_from_nanoseconds_since_1970(mp_hal_time_ns()), tm);
}

static mp_obj_t mp_time_time_get(void) {
    return timeutils_obj_from_timestamp(
        timeutils_seconds_since_epoch_from_nanoseconds_since_1970(mp_hal_time_ns()));
}
