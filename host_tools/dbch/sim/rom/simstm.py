# Simulated-board ROM: the `stm` module of MicroPython's STM32WL port, as far as the
# sub-GHz radio needs it. On the WL55 the radio sits on an internal SPI ("SUBGHZ") with
# chip select and BUSY driven by the MCU itself rather than by GPIO pins.
_bridge = None


def setup(bridge):
    global _bridge
    _bridge = bridge


def subghz_cs(level):
    _bridge.pin_set(b"SUBGHZ_NSS", level)


def subghz_is_busy():
    return bool(_bridge.pin_get(b"SUBGHZ_BUSY"))


def subghz_irq(handler):
    # IRQ delivery is not simulated; the driver polls the radio's IRQ status instead.
    pass
