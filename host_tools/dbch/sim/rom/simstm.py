# Simulated-board ROM: the `stm` module of MicroPython's STM32WL port, as far as the
# sub-GHz radio needs it. On the WL55 the radio sits on an internal SPI ("SUBGHZ") with
# chip select and BUSY driven by the MCU itself rather than by GPIO pins.
import simmachine


def subghz_cs(level):
    simmachine.pin_set(b"SUBGHZ_NSS", level)


def subghz_is_busy():
    return bool(simmachine.pin_get(b"SUBGHZ_BUSY"))


def subghz_irq(handler):
    pass  # IRQ delivery is not simulated; the driver polls the radio's IRQ status
