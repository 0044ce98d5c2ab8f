"""Model of the TI CC1101 at its SPI pins, from SWRS061I: header byte (read, burst,
address), the status byte clocked out during every header byte, strobes, status
registers, PATABLE and the TX FIFO, with a 26 MHz crystal.

The carrier it emits on is FREQ + CHANNR x channel spacing + FREQOFF, from its registers.
"""

from __future__ import annotations

from typing import Any

from dbch.sim.chips.base import ChipBase

XTAL = 26_000_000
# Reset values of the configuration registers 0x00-0x2E that the model uses (§29)
RESET_VALUES = {
    0x00: 0x29,
    0x01: 0x2E,
    0x02: 0x3F,
    0x03: 0x07,
    0x04: 0xD3,
    0x05: 0x91,
    0x06: 0xFF,
    0x07: 0x04,
    0x08: 0x45,
    0x0B: 0x0F,
    0x0D: 0x1E,
    0x0E: 0xC4,
    0x0F: 0xEC,
    0x10: 0x8C,
    0x11: 0x22,
    0x12: 0x02,
    0x13: 0x22,
    0x14: 0xF8,
    0x15: 0x47,
    0x16: 0x07,
    0x17: 0x30,
    0x18: 0x04,
}
# PATABLE byte -> output at 868 MHz (DN013; SWRS061I table 39)
PA_868 = {
    0x03: -30,
    0x0F: -20,
    0x1E: -15,
    0x27: -10,
    0x50: 0,
    0x86: 5,
    0xCD: 7,
    0xC2: 10,
    0xC0: 12,
}
PREAMBLE_BYTES = (2, 3, 4, 6, 8, 12, 16, 24)
IDLE, RX, TX, FSTXON, CALIBRATE = 0, 1, 2, 3, 4
MARCSTATE = {IDLE: 0x01, RX: 0x0D, TX: 0x13, FSTXON: 0x12, CALIBRATE: 0x08}
PARTNUM, VERSION = 0x00, 0x14


class CC1101Model(ChipBase):
    CHIP = "cc1101"

    def __init__(self, **context: Any):
        super().__init__(**context)
        self.power_cycle()

    def power_cycle(self) -> None:
        self.regs = bytearray(0x2F)
        for a, v in RESET_VALUES.items():
            self.regs[a] = v
        self.patable = bytearray(8)
        self.patable[0] = 0xC6
        self.pa_index = 0
        self.txfifo = bytearray()
        self.state = IDLE
        self.powered_down = False
        self.tx_end: float | None = None
        self.txn = bytearray()
        self.head = 0

    # --- pins ---
    def set_pin(self, role: str, level: int) -> None:
        if role == "nss":
            if level == 0 and self.nss == 1:
                self.txn = bytearray()
                self.powered_down = False  # CSn low wakes the chip (§19.2)
            if level == 1:
                self.pa_index = 0
            self.nss = level

    def get_pin(self, role: str) -> int:
        self._update(self.clock())
        if role == "gdo0":  # IOCFG0 = 0x06: high from sync sent to end of packet
            return 1 if self.state == TX else 0
        return 0

    # --- SPI ---
    def status_byte(self) -> int:
        rdy = 0x80 if self.powered_down or self.gone else 0
        free = max(0, 64 - len(self.txfifo))
        return rdy | (self.state << 4) | min(free, 15)

    def transfer(self, mosi: bytes) -> bytes:
        if self.gone or self.nss == 1:
            return b"\xff" * len(mosi)
        now = self.clock()
        self._update(now)
        out = bytearray()
        for b in mosi:
            if not self.txn:
                self.head = b
                self.txn.append(b)
                out.append(self.status_byte())
                addr = b & 0x3F
                burst = bool(b & 0x40)
                if 0x30 <= addr <= 0x3D and not (burst and b & 0x80):
                    self._strobe(addr, now)  # a strobe is one byte (§10.4)
                continue
            self.txn.append(b)
            out.append(self._data(b, now))
        return bytes(out)

    def _data(self, b: int, now: float) -> int:
        head = self.head
        read, burst, addr = bool(head & 0x80), bool(head & 0x40), head & 0x3F
        n = len(self.txn) - 2  # index of this data byte
        if 0x30 <= addr <= 0x3D:
            return self._status_reg(addr) if burst and read else self.status_byte()
        if addr == 0x3E:  # PATABLE, index increments in bursts (§24)
            i = self.pa_index & 7
            self.pa_index += 1
            if read:
                return self.patable[i]
            self.patable[i] = b
            return self.status_byte()
        if addr == 0x3F:
            if read:
                return 0
            if len(self.txfifo) < 64:
                self.txfifo.append(b)
            return self.status_byte()
        a = addr + (n if burst else 0)
        if a > 0x2E:
            return 0
        if read:
            return self.regs[a]
        self.regs[a] = b
        return self.status_byte()

    def _status_reg(self, addr: int) -> int:
        if addr == 0x30:
            return PARTNUM
        if addr == 0x31:
            return 0x04 if self.faults.get("wrong_id") else VERSION
        if addr == 0x34:  # RSSI (§17.3): (dBm + 74) x 2, two's complement
            if self.state != RX:
                return 0x80
            raw = round((self.rssi_dbm(self.carrier_hz()) + 74) * 2)
            return max(-128, min(127, raw)) & 0xFF
        if addr == 0x35:
            return MARCSTATE[self.state]
        if addr == 0x3A:
            return len(self.txfifo)
        return 0

    def _strobe(self, s: int, now: float) -> None:
        if s == 0x30:  # SRES
            self.power_cycle()
        elif s == 0x36:  # SIDLE
            self.state = IDLE
            self.tx_end = None
        elif s == 0x34:  # SRX
            self.state = RX
        elif s == 0x35:  # STX
            self._start_tx(now)
        elif s == 0x39:  # SPWD
            self.state = IDLE
            self.powered_down = True
        elif s == 0x3B and self.state == IDLE:  # SFTX
            self.txfifo = bytearray()
        elif s == 0x31:  # SFSTXON
            self.state = FSTXON

    # --- arithmetic from registers ---
    def set_freq_word(self, word: int) -> None:
        """FREQ2..FREQ0 (0x0D-0x0F) as a write leaves them (known-answer tests)."""
        self.regs[0x0D:0x10] = word.to_bytes(3, "big")

    def carrier_hz(self) -> int:
        r = self.regs
        base = (r[0x0D] << 16 | r[0x0E] << 8 | r[0x0F]) * XTAL // (1 << 16)
        spacing = XTAL * (256 + r[0x14]) * (1 << (r[0x13] & 0x03)) // (1 << 18)
        offset = r[0x0C] - 256 if r[0x0C] > 127 else r[0x0C]
        return base + r[0x0A] * spacing + offset * XTAL // (1 << 14)

    def bitrate(self) -> int:
        e, m = self.regs[0x10] & 0x0F, self.regs[0x11]
        return (256 + m) * (1 << e) * XTAL // (1 << 28)

    def fdev_hz(self) -> int:
        d = self.regs[0x15]
        return XTAL * (8 + (d & 0x07)) * (1 << (d >> 4 & 0x07)) // (1 << 17)

    def power_dbm(self) -> float | None:
        code = self.patable[0]
        return float(PA_868[code]) if code in PA_868 else None

    def readback_truth(self) -> dict[str, Any]:
        return {
            "freq_hz": self.carrier_hz(),
            "bitrate": self.bitrate(),
            "fdev_hz": self.fdev_hz(),
            "power_dbm": self.power_dbm(),
        }

    def _start_tx(self, now: float) -> None:
        r = self.regs
        pre = PREAMBLE_BYTES[r[0x13] >> 4 & 0x07]
        sync = {0: 0, 1: 2, 2: 2, 3: 4, 4: 0, 5: 2, 6: 2, 7: 4}[r[0x12] & 0x07]
        if r[0x08] & 0x03 == 0:
            length = r[0x06]
        else:
            length = self.txfifo[0] + 1 if self.txfifo else 0
        crc = 2 if r[0x08] & 0x04 else 0
        payload = bytes(self.txfifo[:length])
        rate = self.bitrate()
        duration_us = (pre + sync + length + crc) * 8 * 1_000_000 // rate if rate else 0
        self.txfifo = self.txfifo[length:]
        mod = {0: "2fsk", 1: "gfsk", 3: "ook", 4: "4fsk", 7: "msk"}.get(r[0x12] >> 4 & 7, "?")
        if self.emit(
            self.carrier_hz(),
            self.power_dbm(),
            duration_us,
            payload,
            bitrate=rate,
            fdev_hz=self.fdev_hz(),
            modulation=mod,
        ):
            self.state = TX
            self.tx_end = now + duration_us / 1e6

    def _update(self, now: float) -> None:
        if self.tx_end is not None and now >= self.tx_end:
            self.tx_end = None
            self.state = IDLE  # MCSM1 TXOFF_MODE 00 (the model supports only IDLE after TX)
