"""Model of the Semtech SX126x (SX1262) radio at its SPI pins, from DS_SX1261-2 rev 2.1;
the STM32WL5 variant is the same core with its quirks.

It keeps what the silicon keeps (mode, BUSY, registers, data buffer, modulation, packet and
PA parameters, IRQ flags, device errors, command status) and computes what it would emit
from those words. A transaction begun while BUSY is high is ignored and counted, as the
real chip does not take it either.
"""

from __future__ import annotations

import time
from typing import Any

from dbch.sim.chips.base import ChipBase

XTAL = 32_000_000
VERSION = b"SX1261 V2D 2D02\x00"

# Chip modes as the status byte encodes them (§13.5.1, bits 6:4)
STBY_RC, STBY_XOSC, FS, RX, TX = 2, 3, 4, 5, 6
SLEEP = 0  # no status in sleep; kept apart
# Command status (bits 3:1)
CMD_OK, CMD_DATA, CMD_TIMEOUT, CMD_ERROR, CMD_FAIL, CMD_TX_DONE = 1, 2, 3, 4, 5, 6

# opcode -> (name, parameter bytes or None for variable, bytes read back after the status)
COMMANDS: dict[int, tuple[str, int | None]] = {
    0x84: ("SetSleep", 1),
    0x80: ("SetStandby", 1),
    0xC1: ("SetFs", 0),
    0x83: ("SetTx", 3),
    0x82: ("SetRx", 3),
    0xD1: ("SetTxContinuousWave", 0),
    0xD2: ("SetTxInfinitePreamble", 0),
    0x8A: ("SetPacketType", 1),
    0x11: ("GetPacketType", 2),
    0x86: ("SetRfFrequency", 4),
    0x8B: ("SetModulationParams", 8),
    0x8C: ("SetPacketParams", 9),
    0x95: ("SetPaConfig", 4),
    0x8E: ("SetTxParams", 2),
    0x89: ("Calibrate", 1),
    0x98: ("CalibrateImage", 2),
    0x0D: ("WriteRegister", None),
    0x1D: ("ReadRegister", None),
    0x0E: ("WriteBuffer", None),
    0x1E: ("ReadBuffer", None),
    0x8F: ("SetBufferBaseAddress", 2),
    0x12: ("GetIrqStatus", 3),
    0x02: ("ClearIrqStatus", 2),
    0x08: ("SetDioIrqParams", 8),
    0x17: ("GetDeviceErrors", 3),
    0x07: ("ClearDeviceErrors", 2),
    0x15: ("GetRssiInst", 2),
    0xC0: ("GetStatus", 1),
    0x97: ("SetDIO3AsTcxoCtrl", 4),
    0x9D: ("SetDIO2AsRfSwitchCtrl", 1),
    0x13: ("GetRxBufferStatus", 3),
    0x14: ("GetPacketStatus", 4),
}
READS = {0x11, 0x12, 0x17, 0x15, 0xC0, 0x13, 0x14}
# BUSY after a command, in seconds of chip time (§8.3.1; Calibrate §13.1.12)
BUSY_DEFAULT = 0.000_08
BUSY_LONG = {0x89: 0.003_5, 0x98: 0.003_5, 0x84: 0.000_5}
BOOT_BUSY = 0.003_5
BUSY_STRETCH_S = 0.020  # BUSY read high this long in a row is logged (the model's limit: 3.5 ms)
# (paDutyCycle, hpMax) -> dBm at the SetTxParams power field 22 (table 13-21)
PA_AT_22 = {(0x02, 0x02): 14, (0x02, 0x03): 17, (0x03, 0x05): 20, (0x04, 0x07): 22}
IRQ_TX_DONE = 0x0001
IRQ_TIMEOUT = 0x0200


class SX126xModel(ChipBase):
    CHIP = "sx1262"
    CLEAR_ERRORS_PARAMS = 2

    def __init__(self, **context: Any):
        super().__init__(**context)
        self.power_cycle()

    # --- power and reset ---
    def power_cycle(self) -> None:
        self.last_op: int | None = None
        self.busy_seen: float | None = None  # when BUSY was first read high in a row
        self.mode = STBY_RC
        self.cmd_status = CMD_OK
        self.busy_until = self.clock() + BOOT_BUSY
        self.packet_type = 0
        self.rf_word = 0
        self.mod = bytes(8)
        self.pkt = bytes(9)
        self.pa = (0x04, 0x07, 0x00, 0x01)
        self.tx_power = 0
        self.regs: dict[int, int] = {}
        for i, b in enumerate(VERSION):
            self.regs[0x0320 + i] = b
        self.regs.update({0x06B8: 0x01, 0x06B9: 0x00, 0x06C0: 0x97, 0x06C1: 0x23})
        self.buffer = bytearray(256)
        self.tx_base = 0
        self.irq = 0
        self.irq_mask = 0
        self.dio1_mask = 0
        self.errors = 0
        self.image_cal: tuple[int, int] | None = None
        self.tcxo = False
        self.tx_end: float | None = None
        self.cw_start: float | None = None
        self.txn = bytearray()
        self.ignored_txn = False
        self.busy_violations = 0
        self.protocol_errors: list[str] = []

    # --- pins ---
    def set_pin(self, role: str, level: int) -> None:
        late = self.faults.get("late_op")
        if late is not None and role == "nss" and level == 1 and self.txn[:1] == bytes((late,)):
            # Fault late_op, late_ms: the supervisor gets to the chip-select edge that runs
            # this command late, as on a loaded host (tests/test_power_cuts.py)
            time.sleep(self.faults.get("late_ms", 0) / 1000)
        now = self.clock()
        if role == "reset":
            if level == 0:
                self.mode = SLEEP
            else:
                self.power_cycle()
        elif role == "nss":
            if level == 0 and self.nss == 1:
                self._update(now)
                self.txn = bytearray()
                self.ignored_txn = self.busy(now)
                if self.ignored_txn:
                    self.busy_violations += 1
            elif level == 1 and self.nss == 0 and self.txn and not self.ignored_txn:
                self._execute(bytes(self.txn), now)
            self.nss = level

    def _watch_busy(self, now: float, busy: bool) -> None:
        # A driver waits at most 50 ms for BUSY (a calibration's worst case); the model
        # holds it 3.5 ms at most. Read high for 20 ms in a row: say why, once a stretch.
        if not busy:
            self.busy_seen = None
        elif self.busy_seen is None:
            self.busy_seen = now
        elif now - self.busy_seen > BUSY_STRETCH_S:
            self.log(
                f"radio model: BUSY read high for {(now - self.busy_seen) * 1e3:.1f} ms: "
                f"busy_until {(self.busy_until - now) * 1e3:+.1f} ms from now, mode {self.mode}, "
                f"last command 0x{self.last_op or 0:02X}, faults {self.faults or 'none'}"
            )
            self.busy_seen = float("inf")  # (said: quiet until it falls)

    def busy(self, now: float) -> bool:
        return self.faults.get("stuck_busy") or now < self.busy_until or self.gone

    def get_pin(self, role: str) -> int:
        now = self.clock()
        self._update(now)
        if role == "busy":
            busy = self.busy(now)
            self._watch_busy(now, busy)
            return 1 if busy else 0
        if role == "dio1":
            return 1 if self.irq & self.dio1_mask else 0
        return 0

    # --- SPI ---
    def status_byte(self) -> int:
        mode = 0 if self.mode == SLEEP else self.mode
        return (mode << 4) | (self.cmd_status << 1)

    def transfer(self, mosi: bytes) -> bytes:
        if self.gone:
            return b"\xff" * len(mosi)
        if self.nss == 1:
            return b"\xff" * len(mosi)  # not selected: MISO floats
        self._update(self.clock())
        out = bytearray()
        for b in mosi:
            i = len(self.txn)
            self.txn.append(b)
            out.append(self._miso(i))
        return bytes(out)

    def _miso(self, i: int) -> int:
        op = self.txn[0]
        if self.ignored_txn or i == 0:
            return self.status_byte()
        if op == 0x1D:  # ReadRegister: addr(2), status, data
            if i < 3:
                return self.status_byte()
            if i == 3:
                return self.status_byte()
            addr = (self.txn[1] << 8 | self.txn[2]) + (i - 4)
            if self.faults.get("wrong_id") and 0x0320 <= addr < 0x0330:
                return b"LR1110 V1 0000\x00\x00"[addr - 0x0320]  # another chip's answer
            return self.regs.get(addr, 0) & 0xFF
        if op == 0x1E:  # ReadBuffer: offset, status, data
            if i < 3:
                return self.status_byte()
            return self.buffer[(self.txn[1] + i - 3) & 0xFF]
        if op in READS:
            data = self._read_data(op)
            return self.status_byte() if i == 1 else (data[i - 2] if i - 2 < len(data) else 0)
        return self.status_byte()

    def _read_data(self, op: int) -> bytes:
        if op == 0x11:
            return bytes((self.packet_type,))
        if op == 0x12:
            return bytes((self.irq >> 8, self.irq & 0xFF))
        if op == 0x17:
            return bytes((self.errors >> 8, self.errors & 0xFF))
        if op == 0x15:
            if self.mode != RX:
                return b"\xff"
            dbm = self.rssi_dbm(self.freq_hz())
            return bytes((max(0, min(255, round(-2 * dbm))),))
        return b"\x00\x00\x00"

    # --- arithmetic from registers (the model's own, not the driver's) ---
    def freq_hz(self) -> int:
        return self.rf_word * XTAL // (1 << 25)

    def set_freq_word(self, word: int) -> None:
        """The frequency word as SetRfFrequency leaves it (known-answer tests)."""
        self.rf_word = word

    carrier_hz = freq_hz

    def bitrate(self) -> int:
        br = self.mod[0] << 16 | self.mod[1] << 8 | self.mod[2]
        return 32 * XTAL // br if br else 0

    def fdev_hz(self) -> int:
        w = self.mod[5] << 16 | self.mod[6] << 8 | self.mod[7]
        return w * XTAL // (1 << 25)

    def modulation(self) -> str:
        # Pulse shape (§13.4.5): 0x00 none, 0x08 BT 0.3, 0x09 BT 0.5, 0x0A BT 0.7, 0x0B BT 1
        shapes = {
            0x00: "fsk",
            0x08: "gfsk-bt0.3",
            0x09: "gfsk",
            0x0A: "gfsk-bt0.7",
            0x0B: "gfsk-bt1.0",
        }
        return shapes.get(self.mod[3], f"unknown-shape-0x{self.mod[3]:02x}")

    def power_dbm(self) -> float | None:
        duty, hp_max = self.pa[0], self.pa[1]
        top = PA_AT_22.get((duty, hp_max))
        if top is None:
            return None  # a PA setting outside the datasheet's table: output unknown
        return float(top - (22 - self.tx_power))

    def packet_bytes(self) -> tuple[int, int, int, int]:
        """(preamble bits, sync bits, payload length, CRC bytes) from the packet params."""
        p = self.pkt
        crc = {0x00: 1, 0x02: 2, 0x04: 1, 0x06: 2}.get(p[7], 0)
        return p[0] << 8 | p[1], p[3], p[6], crc

    def readback_truth(self) -> dict[str, Any]:
        """What the chip is really set to (for tests and the check's third view)."""
        return {
            "freq_hz": self.freq_hz(),
            "bitrate": self.bitrate(),
            "fdev_hz": self.fdev_hz(),
            "power_dbm": self.power_dbm(),
            "packet_type": self.packet_type,
        }

    # --- execution at NSS rising edge ---
    def _fail(self, status: int, why: str) -> None:
        self.cmd_status = status
        self.protocol_errors.append(why)

    def _execute(self, txn: bytes, now: float) -> None:
        if self.gone:
            return
        op, params = txn[0], txn[1:]
        self.last_op = op
        spec = COMMANDS.get(op)
        self.busy_until = now + BUSY_LONG.get(op, BUSY_DEFAULT)
        if spec is None:
            self._fail(CMD_ERROR, f"unknown opcode 0x{op:02X}")
            return
        name, count = spec
        if op == 0x07:
            count = self.CLEAR_ERRORS_PARAMS
        if op in READS:
            count = len(params)  # NOPs clocked to read; any number is fine
        if count is not None and len(params) != count:
            self._fail(CMD_ERROR, f"{name}: {len(params)} parameter bytes, expected {count}")
            return
        if self.mode == SLEEP and op not in (0x80,):
            # Any NSS falling edge wakes the chip (§9.3); the command is not executed.
            self.mode = STBY_RC
            self.busy_until = now + BOOT_BUSY
            return
        self.cmd_status = CMD_DATA if op in READS or op in (0x1D, 0x1E) else CMD_OK
        getattr(self, f"_{name}", self._noop)(params, now)

    def _noop(self, params: bytes, now: float) -> None:
        pass

    def _SetStandby(self, p: bytes, now: float) -> None:
        self._end_cw(now)
        self.mode = STBY_XOSC if p[0] == 1 else STBY_RC
        self.tx_end = None

    def _SetSleep(self, p: bytes, now: float) -> None:
        self._end_cw(now)
        self.mode = SLEEP
        if not p[0] & 0x04:  # cold start loses the configuration
            self.power_cycle()
            self.mode = SLEEP

    def _SetFs(self, p: bytes, now: float) -> None:
        self.mode = FS

    def _SetPacketType(self, p: bytes, now: float) -> None:
        if self.mode not in (STBY_RC, STBY_XOSC):
            self._fail(CMD_FAIL, "SetPacketType outside standby")
        elif p[0] > 1:
            self._fail(CMD_FAIL, f"packet type {p[0]}")
        else:
            self.packet_type = p[0]

    def _SetRfFrequency(self, p: bytes, now: float) -> None:
        word = int.from_bytes(p, "big")
        f = word * XTAL // (1 << 25)
        if not 150_000_000 <= f <= 960_000_000:
            self._fail(CMD_FAIL, f"RF frequency {f} Hz outside 150-960 MHz")
            return
        self.rf_word = word

    def _SetModulationParams(self, p: bytes, now: float) -> None:
        br = p[0] << 16 | p[1] << 8 | p[2]
        if self.packet_type == 0 and not 32 * XTAL // 300_000 <= br <= 32 * XTAL // 600:
            self._fail(CMD_FAIL, f"bit rate word {br} outside 0.6-300 kbps")
            return
        self.mod = bytes(p)

    def _SetPacketParams(self, p: bytes, now: float) -> None:
        self.pkt = bytes(p)

    def _SetPaConfig(self, p: bytes, now: float) -> None:
        self.pa = tuple(p)  # type: ignore[assignment]

    def _SetTxParams(self, p: bytes, now: float) -> None:
        power = p[0] - 256 if p[0] > 127 else p[0]
        if not -9 <= power <= 22:
            self._fail(CMD_FAIL, f"TX power {power} outside -9..22")
            return
        self.tx_power = power

    def _Calibrate(self, p: bytes, now: float) -> None:
        pass

    def _CalibrateImage(self, p: bytes, now: float) -> None:
        self.image_cal = (p[0] * 4_000_000, p[1] * 4_000_000)

    def _WriteRegister(self, p: bytes, now: float) -> None:
        addr = p[0] << 8 | p[1]
        for i, b in enumerate(p[2:]):
            self.regs[addr + i] = b

    def _WriteBuffer(self, p: bytes, now: float) -> None:
        off = p[0]
        for i, b in enumerate(p[1:]):
            self.buffer[(off + i) & 0xFF] = b

    def _SetBufferBaseAddress(self, p: bytes, now: float) -> None:
        self.tx_base = p[0]

    def _ClearIrqStatus(self, p: bytes, now: float) -> None:
        self.irq &= ~(p[0] << 8 | p[1])

    def _SetDioIrqParams(self, p: bytes, now: float) -> None:
        self.irq_mask = p[0] << 8 | p[1]
        self.dio1_mask = (p[2] << 8 | p[3]) & self.irq_mask

    def _ClearDeviceErrors(self, p: bytes, now: float) -> None:
        self.errors = 0

    def _SetDIO3AsTcxoCtrl(self, p: bytes, now: float) -> None:
        self.tcxo = True

    def _SetRx(self, p: bytes, now: float) -> None:
        self.mode = RX

    def _SetTx(self, p: bytes, now: float) -> None:
        if self.packet_type != 0:
            self._fail(CMD_FAIL, "SetTx in a packet type this model does not emulate (LoRa)")
            return
        pre_bits, sync_bits, length, crc = self.packet_bytes()
        payload = bytes(self.buffer[(self.tx_base + i) & 0xFF] for i in range(length))
        rate = self.bitrate()
        if rate <= 0:
            self._fail(CMD_FAIL, "no bit rate set")
            return
        total_bits = pre_bits + sync_bits + 8 * (length + crc)
        duration_us = total_bits * 1_000_000 // rate
        sent = self.emit(
            self.freq_hz(),
            self.power_dbm(),
            duration_us,
            payload,
            bitrate=rate,
            fdev_hz=self.fdev_hz(),
            modulation=self.modulation(),
            image_cal=self.image_cal,
        )
        if not sent:
            self.irq |= IRQ_TIMEOUT & self.irq_mask
            self._fail(CMD_FAIL, "transmission refused: masked band")
            return
        self.mode = TX
        self.tx_end = now + duration_us / 1e6

    def _SetTxContinuousWave(self, p: bytes, now: float) -> None:
        self.mode = TX
        self.cw_start = now

    _SetTxInfinitePreamble = _SetTxContinuousWave

    def _end_cw(self, now: float) -> None:
        if self.cw_start is not None:
            self.emit(
                self.freq_hz(),
                self.power_dbm(),
                int((now - self.cw_start) * 1e6),
                b"",
                modulation="cw",
            )
            self.cw_start = None

    def _update(self, now: float) -> None:
        if self.tx_end is not None and now >= self.tx_end:
            self.tx_end = None
            self.mode = STBY_RC  # fallback mode after TX (§13.1.11)
            self.irq |= IRQ_TX_DONE & self.irq_mask
            self.cmd_status = CMD_TX_DONE


class STM32WL5Model(SX126xModel):
    """The STM32WL5's radio: an SX126x core whose ClearDeviceErrors takes one byte."""

    CHIP = "stm32wl5"
    CLEAR_ERRORS_PARAMS = 1
