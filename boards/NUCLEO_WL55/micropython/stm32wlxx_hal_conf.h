// The HAL configuration is MicroPython's board's, unchanged.
#include "boards/NUCLEO_WL55/stm32wlxx_hal_conf.h"
