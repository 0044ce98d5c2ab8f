"""Model of the Semtech SX1276 (RFM95W) in FSK mode at its SPI pins, from the SX1276
datasheet rev 7: register file with reset values, FIFO, modes, sequencer, IRQ flags.

Every way the chip can start a transmission starts one here too (RegOpMode TX, and the
sequencer's start bit), and what it emits is computed from the registers.
"""

from __future__ import annotations

from typing import Any

from dbch.sim.chips.base import ChipBase

XTAL = 32_000_000
# Reset values that matter (§6.2, table 41); everything else resets to 0.
RESET_VALUES = {
    0x01: 0x09,
    0x02: 0x1A,
    0x03: 0x0B,
    0x04: 0x00,
    0x05: 0x52,
    0x06: 0x6C,
    0x07: 0x80,
    0x08: 0x00,
    0x09: 0x4F,
    0x0A: 0x09,
    0x0B: 0x2B,
    0x0C: 0x20,
    0x12: 0x05,
    0x26: 0x03,
    0x27: 0x93,
    0x28: 0x55,
    0x29: 0x55,
    0x2A: 0x55,
    0x2B: 0x55,
    0x30: 0x90,
    0x31: 0x40,
    0x32: 0x40,
    0x35: 0x1F,
    0x3E: 0x80,
    0x42: 0x12,
    0x4D: 0x84,
}
OP_MODE, SEQ_CONFIG1, IRQ_FLAGS1, IRQ_FLAGS2, RSSI_VALUE = 0x01, 0x36, 0x3E, 0x3F, 0x11
MODE_SLEEP, MODE_STDBY, MODE_TX, MODE_RX = 0, 1, 3, 5
PACKET_SENT, FIFO_EMPTY, MODE_READY = 0x08, 0x40, 0x80
READ_ONLY = {0x11, 0x3E, 0x3F, 0x42}


class SX127xModel(ChipBase):
    CHIP = "sx1276"

    def __init__(self, **context: Any):
        super().__init__(**context)
        self.power_cycle()

    def power_cycle(self) -> None:
        self.regs = bytearray(0x80)
        for a, v in RESET_VALUES.items():
            self.regs[a] = v
        self.fifo = bytearray()
        self.txn = bytearray()
        self.addr = 0
        self.write = False
        self.tx_end: float | None = None
        self.held_in_reset = False

    # --- pins ---
    def set_pin(self, role: str, level: int) -> None:
        if role == "reset":
            # Active low (§7.2.2): held low = in reset; the rising edge restarts the chip.
            if level == 0:
                self.held_in_reset = True
            elif self.held_in_reset:
                self.power_cycle()
        elif role == "nss":
            if level == 0 and self.nss == 1:
                self.txn = bytearray()
            self.nss = level

    def get_pin(self, role: str) -> int:
        self._update(self.clock())
        if role == "dio0":  # DIO0 = PacketSent in TX (mapping 00, §4.2.11)
            return 1 if self.regs[IRQ_FLAGS2] & PACKET_SENT else 0
        return 0

    # --- SPI (§4.3): address byte, then data; bursts auto-increment except the FIFO ---
    def transfer(self, mosi: bytes) -> bytes:
        if self.gone or self.nss == 1 or self.held_in_reset:
            return b"\xff" * len(mosi) if self.gone else bytes(len(mosi))
        now = self.clock()
        self._update(now)
        out = bytearray()
        for b in mosi:
            if not self.txn:
                self.write = bool(b & 0x80)
                self.addr = b & 0x7F
                self.txn.append(b)
                out.append(0)
                continue
            self.txn.append(b)
            if self.write:
                self._write_reg(self.addr, b, now)
                out.append(0)
            else:
                out.append(self._read_reg(self.addr, now))
            if self.addr != 0x00:
                self.addr = (self.addr + 1) & 0x7F
        return bytes(out)

    def _read_reg(self, addr: int, now: float) -> int:
        if addr == 0x00:
            return self.fifo.pop(0) if self.fifo else 0
        if addr == RSSI_VALUE:
            if self.regs[OP_MODE] & 0x07 != MODE_RX:
                return 0xFF
            return max(0, min(255, round(-2 * self.rssi_dbm(self.freq_hz()))))
        value = self.regs[addr]
        if addr == 0x42 and self.faults.get("wrong_id"):
            value = 0x22  # an SX1272's RegVersion
        if addr == 0x3F and not self.fifo:
            value |= FIFO_EMPTY
        if self.faults.get("skew_readback") and addr in (0x06, 0x07, 0x08):
            value ^= 0x01  # a readback that disagrees with what was written
        return value

    def _write_reg(self, addr: int, value: int, now: float) -> None:
        if addr == 0x00:
            if len(self.fifo) < 64:
                self.fifo.append(value)
            return
        if addr in READ_ONLY:
            if addr in (IRQ_FLAGS1, IRQ_FLAGS2):
                self.regs[addr] &= ~(value & 0x11)  # a few flags clear on write
            return
        if addr == OP_MODE:
            old = self.regs[OP_MODE]
            if (value ^ old) & 0x80 and old & 0x07 != MODE_SLEEP:
                value = (value & 0x7F) | (old & 0x80)  # LongRangeMode only in sleep
            self.regs[OP_MODE] = value
            self._mode_changed(old & 0x07, value & 0x07, now, "op_mode")
            return
        self.regs[addr] = value
        if addr == SEQ_CONFIG1 and value & 0x80:
            # SequencerStart: from idle the sequencer's default path is transmit (§4.2.8)
            self.regs[SEQ_CONFIG1] &= 0x7F
            self._start_tx(now, "sequencer")

    def _mode_changed(self, old: int, new: int, now: float, how: str) -> None:
        self.regs[IRQ_FLAGS1] |= MODE_READY
        if new == MODE_TX and old != MODE_TX:
            self._start_tx(now, how)
        if new != MODE_TX:
            self.tx_end = None
            self.regs[IRQ_FLAGS2] &= ~PACKET_SENT & 0xFF

    # --- arithmetic from registers ---
    def set_freq_word(self, word: int) -> None:
        """RegFrf (0x06-0x08) as a write leaves it (known-answer tests)."""
        self.regs[0x06:0x09] = word.to_bytes(3, "big")

    def freq_hz(self) -> int:
        frf = self.regs[0x06] << 16 | self.regs[0x07] << 8 | self.regs[0x08]
        return frf * XTAL // (1 << 19)

    def carrier_hz(self) -> int:
        return self.freq_hz()

    def bitrate(self) -> int:
        br = self.regs[0x02] << 8 | self.regs[0x03]
        frac = self.regs[0x5D] & 0x0F
        return int(XTAL / (br + frac / 16)) if br else 0

    def fdev_hz(self) -> int:
        return (self.regs[0x04] << 8 | self.regs[0x05]) * XTAL // (1 << 19)

    def power_dbm(self) -> float:
        pa = self.regs[0x09]
        out = pa & 0x0F
        if pa & 0x80:  # PA_BOOST (§5.4.3)
            return float((5 if self.regs[0x4D] & 0x07 == 0x07 else 2) + out)
        pmax = 10.8 + 0.6 * (pa >> 4 & 0x07)  # RFO
        return round(pmax - (15 - out), 1)

    def modulation(self) -> str:
        if self.regs[OP_MODE] & 0x80:
            return "lora"
        if self.regs[OP_MODE] & 0x60:
            return "ook"
        # RegPaRamp ModulationShaping (§4.2.6): 00 none, 01 BT 1.0, 10 BT 0.5, 11 BT 0.3
        return ("fsk", "gfsk-bt1.0", "gfsk", "gfsk-bt0.3")[self.regs[0x0A] >> 5 & 0x03]

    def readback_truth(self) -> dict[str, Any]:
        return {
            "freq_hz": self.freq_hz(),
            "bitrate": self.bitrate(),
            "fdev_hz": self.fdev_hz(),
            "power_dbm": self.power_dbm(),
            "lora": bool(self.regs[OP_MODE] & 0x80),
        }

    def _start_tx(self, now: float, how: str) -> None:
        r = self.regs
        pre = r[0x25] << 8 | r[0x26]
        sync = (r[0x27] & 0x07) + 1 if r[0x27] & 0x10 else 0
        if r[0x30] & 0x80:  # variable length: the first FIFO byte is the length
            length = self.fifo[0] + 1 if self.fifo else 0
        else:
            length = (r[0x31] & 0x07) << 8 | r[0x32]
        crc = 2 if r[0x30] & 0x10 else 0
        payload = bytes(self.fifo[:length])
        rate = self.bitrate()
        duration_us = (pre + sync + length + crc) * 8 * 1_000_000 // rate if rate else 0
        self.fifo = self.fifo[length:]
        sent = self.emit(
            self.freq_hz(),
            self.power_dbm(),
            duration_us,
            payload,
            bitrate=rate,
            fdev_hz=self.fdev_hz(),
            modulation=self.modulation(),
            started_by=how,
        )
        if sent:
            self.tx_end = now + duration_us / 1e6
        else:
            self.regs[OP_MODE] = (r[OP_MODE] & 0xF8) | MODE_STDBY

    def _update(self, now: float) -> None:
        if self.tx_end is not None and now >= self.tx_end:
            self.tx_end = None
            self.regs[IRQ_FLAGS2] |= PACKET_SENT  # stays in TX until the driver moves it
