# The STM32WL5x sub-GHz radio: an SX126x core on the MCU's internal SPI (RM0453 §4).
# Chip select and BUSY come from MicroPython's `stm` module instead of GPIO pins, there is
# no NRESET pin (the radio is reset with the MCU; reset() only restores standby),
# ClearDeviceErrors takes one parameter byte, and the NUCLEO-WL55's RF
# switch is three GPIOs (FE_CTRL1..3) rather than DIO2.
from subghz.sx126x import SX126x


class STM32WL5(SX126x):
    CHIP = "stm32wl5"
    CLEAR_ERRORS = b"\x00"

    def __init__(self, spi, ctrl_pins=None, tcxo_mv=1700, max_power_dbm=14):
        import stm

        super().__init__(spi, None, None, None, tcxo_mv, "gpio", max_power_dbm)
        self._ctrl = ctrl_pins  # (ctrl1, ctrl2, ctrl3) or None
        self._cs = stm.subghz_cs
        self._is_busy = stm.subghz_is_busy

    def _select(self, level):
        self._cs(level)

    def _busy(self):
        return self._is_busy()

    def _rf_tx(self, tx):
        # NUCLEO-WL55 (UM2592): TX high power = CTRL1 low, CTRL2 high, CTRL3 high;
        # receive = CTRL1 high, CTRL2 low, CTRL3 high.
        if self._ctrl:
            c1, c2, c3 = self._ctrl
            c1(0 if tx else 1)
            c2(1 if tx else 0)
            c3(1)
