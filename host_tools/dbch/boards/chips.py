"""One registry entry per radio chip: its firmware driver, the constructor a board module
gets, the pins it needs, its register model on a simulated bench, its known answers and
where its facts are documented. Adding a chip is adding an entry here (docs/contributing.md,
"Adding a chip family"); tests/test_chips.py fails, naming the part, while an entry a board
names is incomplete.

The model is named, not imported: boards/ sits below sim/ (sim/chips resolves it).
Known answers are what the chip's own register formula gives (docs/reference.md §5): the
carrier -> frequency word for a few carriers, and the first SPI transactions of
`setup(power)` then `tune(868.3 MHz)`, as the chip model's bus log shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbch.errors import BoardDefinitionError

_SPI = (
    "SPI({bus}, baudrate={baud}, polarity=0, phase=0, sck=Pin({sck}), mosi=Pin({mosi}), "
    "miso=Pin({miso}))"
)
# carrier (Hz) -> the frequency word of each register family (exact floor of the formula)
_SX126X_WORDS = {
    863_250_000: 0x35F40000,
    868_300_000: 0x3644CCCC,
    868_450_000: 0x36473333,
    870_050_000: 0x3660CCCC,
    875_650_000: 0x36BA6666,
    915_350_000: 0x39359999,
    920_550_000: 0x3988CCCC,
    915_000_000: 0x39300000,
    921_000_000: 0x39900000,
}
_SX127X_WORDS = {
    863_250_000: 0xD7D000,
    868_300_000: 0xD91333,
    868_450_000: 0xD91CCC,
    870_050_000: 0xD98333,
    875_650_000: 0xDAE999,
    915_350_000: 0xE4D666,
    920_550_000: 0xE62333,
    915_000_000: 0xE4C000,
    921_000_000: 0xE64000,
}
_CC1101_WORDS = {
    863_250_000: 0x2133B1,
    868_300_000: 0x21656A,
    868_450_000: 0x2166E4,
    870_050_000: 0x2176A5,
    875_650_000: 0x21ADC8,
    915_350_000: 0x2334AD,
    920_550_000: 0x2367E0,
    915_000_000: 0x23313B,
    921_000_000: 0x236C4E,
}
_SX126X_BUS = (
    "86 36 44 CC CC",
    "8B 00 28 00 09 0A 00 8F 5C",
    "95 02 02 00 01",
    "8E 16 04",
    "98 D7 DB",
)


@dataclass(frozen=True)
class ChipSpec:
    name: str
    driver: tuple[str, str]  # firmware module and class
    modules: tuple[str, ...]  # subghz/ modules the driver needs (frozen into board images)
    pins: tuple[str, ...]  # pin roles a board must wire
    spi_pins: bool  # SCK/MOSI/MISO are the board's to name (False: inside the MCU)
    xtal_hz: int
    new: str  # the board module's constructor (str.format over the board's wiring)
    model: str  # its register model, "module:Class" under dbch.sim.chips
    word_function: str  # the driver module's carrier -> word function (known answers)
    words: dict[int, int]  # carrier Hz -> frequency word
    freq_step_hz: int  # one synthesiser step, rounded up: how far a readback may be off
    bus_power_dbm: int  # setup(power) for the bus known answers
    bus: tuple[str, ...]  # SPI transactions (hex) that setup + tune(868.3 MHz) must send
    doc: str  # where its datasheet facts are (docs/radio.md section)
    forbid: tuple[str, ...] = ()  # pins a board must not name (the radio is inside the MCU)
    internal: bool = False  # chip select and BUSY driven by the MCU (the stm module)
    max_spi_hz: int = 20_000_000  # the chip's fastest SPI clock


CHIPS: dict[str, ChipSpec] = {
    "sx1262": ChipSpec(
        name="sx1262",
        driver=("subghz.sx126x", "SX1262"),
        modules=("sx126x",),
        pins=("nss", "reset", "busy", "dio1"),
        spi_pins=True,
        xtal_hz=32_000_000,
        new="{cls}({spi}, Pin({nss}, Pin.OUT, value=1), Pin({busy}, Pin.IN), "
        "Pin({reset}, Pin.OUT, value=1), {tcxo_mv}, {rf_switch!r}, {max_tx})",
        model="sx126x:SX126xModel",
        word_function="freq_word",
        words=_SX126X_WORDS,
        freq_step_hz=2,  # 32 MHz / 2^25, floored into the word and back
        bus_power_dbm=14,
        bus=(*_SX126X_BUS, "97 02 00 01 40", "0D 06 C0 90 4E", "8A 00", "9D 01"),
        doc="Drivers",
    ),
    "stm32wl5": ChipSpec(
        # The WL55's radio is inside the MCU: internal SPI, chip select and BUSY are driven
        # by the `stm` module, and there is no reset or DIO pin to wire.
        name="stm32wl5",
        driver=("subghz.stm32wl5", "STM32WL5"),
        modules=("sx126x", "stm32wl5"),
        pins=(),
        spi_pins=False,
        forbid=("nss", "reset", "busy", "dio1", "sck", "mosi", "miso"),
        xtal_hz=32_000_000,
        new="{cls}(SPI({bus}), {switch_pins}, {tcxo_mv}, {max_tx})",
        model="sx126x:STM32WL5Model",
        word_function="freq_word",
        words=_SX126X_WORDS,
        freq_step_hz=2,  # 32 MHz / 2^25, floored into the word and back
        bus_power_dbm=14,
        bus=(*_SX126X_BUS, "97 01 00 01 40", "07 00", "0D 06 C0 90 4E"),
        doc="Drivers",
        internal=True,
    ),
    "sx1276": ChipSpec(
        name="sx1276",
        driver=("subghz.sx127x", "SX1276"),
        modules=("sx127x",),
        pins=("nss", "reset", "dio0"),
        spi_pins=True,
        xtal_hz=32_000_000,
        new="{cls}({spi}, Pin({nss}, Pin.OUT, value=1), Pin({reset}, Pin.OUT, value=1), {max_tx})",
        model="sx127x:SX127xModel",
        word_function="frf_word",
        words=_SX127X_WORDS,
        freq_step_hz=62,  # 32 MHz / 2^19
        bus_power_dbm=14,
        bus=("86 D9 13 33", "82 01 40", "84 02 3D", "8A 49", "89 FC", "42 00"),
        doc="Drivers",
    ),
    "cc1101": ChipSpec(
        name="cc1101",
        driver=("subghz.cc1101", "CC1101"),
        modules=("cc1101",),
        # MISO doubles as CHIP_RDYn after chip select, so it must be a readable pin.
        pins=("nss", "gdo0"),
        spi_pins=True,
        xtal_hz=26_000_000,
        new="{cls}({spi}, Pin({nss}, Pin.OUT, value=1), Pin({gdo0}, Pin.IN), {max_tx})",
        max_spi_hz=6_500_000,
        model="cc1101:CC1101Model",
        word_function="freq_word",
        words=_CC1101_WORDS,
        freq_step_hz=397,  # 26 MHz / 2^16
        bus_power_dbm=10,
        bus=("4D 21 65 6A", "10 7B", "11 F8", "15 43", "12 12", "13 42", "3E C2", "F1 00"),
        doc="Drivers",
    ),
}
SPI_TEMPLATE = _SPI


def chip(name: str) -> ChipSpec:
    """The registry entry of `name`; an unknown chip names the known ones."""
    try:
        return CHIPS[name]
    except KeyError:
        known = ", ".join(sorted(CHIPS))
        raise BoardDefinitionError(
            "boards/chips.py", name, f"unknown radio chip (known: {known}); add its entry"
        ) from None
