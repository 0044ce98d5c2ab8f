"""Radio drivers on their register-level chip models: known answers on the bus, every
GB868 channel read back and witnessed, the masked band, and faults that must fail cleanly.

Each chip runs on its board's own twin: the WL55's is its 32-bit QEMU build, so its driver's
register words are computed with 32-bit ints. Without MicroPython's source (CI) the WL55
runs on the unix twin instead, so every chip's answers are still checked; the 32-bit run of
the same driver needs the source (`make test-boards`)."""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbch.boards.chips import CHIPS
from dbch.boards.definitions import get_board
from dbch.boards.deploy import deploy
from dbch.gbcs import channel_plan as plan
from dbch.sim.air import read_air_log
from dbch.sim.bench import Bench, SimBoard
from dbch.sim.chips import SX126xModel, model_for
from dbch.sim.layout import BenchFolder, write_json
from helpers import MicroPython, own_twin_or_unix
from mpremote.transport_serial import SerialTransport

# A board for each chip of the registry (boards/chips.py: tests/test_chips.py keeps every
# chip a board names complete, and this list covers every chip).
CHIP_BOARDS = {
    "sx1262": "PICO_WAVESHARE_SX1262",
    "stm32wl5": "NUCLEO_WL55",
    "sx1276": "FEATHER_RP2040_RFM95",
    "cc1101": "PICO_CC1101",
}
TOLERANCE = {"bitrate": 100, "fdev_hz": 100}


@pytest.fixture(scope="module")
def radio_boards(bench: Bench) -> Iterator[dict[str, SimBoard]]:
    boards = {}
    for chip, board in CHIP_BOARDS.items():
        (b,) = bench.start(
            board=board,
            ids=[f"radio-{chip}"],
            erase=True,
            trace_spi=True,
            twin=own_twin_or_unix(board),
        )
        deploy(b.port, board)
        boards[chip] = b
    yield boards
    for b in boards.values():
        b.stop()


def vm(board: SimBoard, code: str, timeout: float = 60) -> str:
    """Run code in the board's VM through mpremote's raw REPL; its printed output."""
    t = SerialTransport(board.port)
    try:
        # A soft reset from the raw REPL starts a fresh VM without main.py: the agent's
        # heap (its modules, and names interned in scattered places) would leave a small
        # board's twin too fragmented for the next step of the interned-name table.
        t.enter_raw_repl(soft_reset=True)
        out, err = t.exec_raw(code, timeout=timeout)
    finally:
        t.close()
    assert not err, err.decode()
    return out.decode()


OPEN = "import dbch_board\nr = dbch_board.radio()\n"


def radio_error(board: SimBoard, body: str) -> str:
    code = (
        OPEN
        + "try:\n"
        + "".join(f"    {ln}\n" for ln in body.splitlines())
        + ("    print('no error')\nexcept Exception as e:\n    print(e.args[0])\n")
    )
    return vm(board, code).strip()


# --- known answers (boards/chips.py: docs/reference.md §5) --------------------------------
def test_every_chip_of_the_registry_has_a_board_here() -> None:
    assert set(CHIP_BOARDS) == set(CHIPS)
    assert all(get_board(b).radio.chip == c for c, b in CHIP_BOARDS.items())


@pytest.mark.parametrize("chip", sorted(CHIPS))
def test_frequency_words_match_the_known_answers(mp: MicroPython, chip: str) -> None:
    spec = CHIPS[chip]
    for f, word in spec.words.items():
        got = mp.ask(f"word {spec.modules[0]} {spec.word_function} {f}")
        assert got == ("ok", f"{word:X}"), (chip, f)


@pytest.mark.parametrize("chip", sorted(CHIPS))
def test_models_compute_the_same_carriers_from_the_words(chip: str) -> None:
    spec = CHIPS[chip]
    for f, word in spec.words.items():
        model = model_for(chip)
        model.set_freq_word(word)
        assert abs(model.carrier_hz() - f) < spec.freq_step_hz, (chip, f)


def test_drivers_put_the_known_answers_on_the_bus(radio_boards) -> None:
    for chip, board in radio_boards.items():
        board.folder.spi_log.write_text("")
        power = CHIPS[chip].bus_power_dbm
        vm(board, OPEN + f"r.setup({power})\nr.tune(868300000)\n")
        lines = board.folder.spi_log.read_text().splitlines()
        for expected in CHIPS[chip].bus:
            assert any(line.startswith(expected) for line in lines), (chip, expected, lines)


# --- every channel -------------------------------------------------------------------------
# One line per channel: the smallest board's heap (the WL55 twin) holds no big lists.
SWEEP = (
    OPEN
    + """r.setup({power})
for f in range({first}, {last} + 1, 200000):
    r.tune(f)
    rb = r.readback()
    r.transmit(b"\\x01")
    print(repr((f, rb["freq_hz"], rb["bitrate"], rb["fdev_hz"], rb["power_dbm"],
                rb["packet_type"], rb["sync_word"], rb["whitening"], rb["errors"])))
    rb = None
"""
)


@pytest.mark.parametrize("chip", list(CHIP_BOARDS))
def test_every_lower_band_channel_reads_back_and_is_witnessed(radio_boards, chip) -> None:
    board = radio_boards[chip]
    power = CHIPS[chip].bus_power_dbm
    freqs = sorted(c.freq_hz for c in plan.all_channels() if c.page != 31)
    assert freqs == list(range(freqs[0], freqs[-1] + 1, 200_000))  # one 200 kHz grid
    before = len(read_air_log(board.bench.folder.air_log, board.id))
    out = vm(board, SWEEP.format(power=power, first=freqs[0], last=freqs[-1]))
    rows = [ast.literal_eval(line) for line in out.splitlines()]
    assert [r[0] for r in rows] == freqs
    for f, freq, rate, fdev, pwr, ptype, sync, white, nerr in rows:
        assert abs(freq - f) < CHIPS[chip].freq_step_hz, (chip, f, freq)
        assert abs(rate - 100_000) <= TOLERANCE["bitrate"]
        assert abs(fdev - 35_000) <= TOLERANCE["fdev_hz"]
        assert pwr == power and ptype in ("gfsk", "fsk") and sync == 0x904E and white
        assert nerr == 0
    # The witness: what the model computed from its own registers, frame by frame
    seen = read_air_log(board.bench.folder.air_log, board.id)[before:]
    assert len(seen) == 63
    for (f, *_), rec in zip(rows, seen, strict=True):
        assert rec["emitted"] and abs(rec["freq_hz"] - f) < CHIPS[chip].freq_step_hz
        assert rec["modulation"] == "gfsk" and rec["power_dbm"] == power
        assert abs(rec["bitrate"] - 100_000) <= TOLERANCE["bitrate"]
        assert abs(rec["fdev_hz"] - 35_000) <= TOLERANCE["fdev_hz"]
        # 1-octet payload + 2-octet CRC: (8 + 2 + 2 + 3) octets x 80 us
        assert abs(rec["duration_us"] - 1200) <= 2


def test_sx126x_readback_says_what_is_shadow(radio_boards) -> None:
    board = radio_boards["sx1262"]
    out = vm(
        board,
        OPEN + "r.setup(14)\nr.tune(868300000)\nrb=r.readback()\n"
        "print(repr((rb['verified'], rb['shadow'])))",
    )
    verified, shadow = ast.literal_eval(out)
    assert "freq_hz" in shadow and "bitrate" in shadow and "packet_type" in verified


# --- the masked band ---------------------------------------------------------------------
@pytest.mark.parametrize("chip", list(CHIP_BOARDS))
def test_masked_band_is_refused_by_every_driver(radio_boards, chip) -> None:
    board = radio_boards[chip]
    before = len(read_air_log(board.bench.folder.air_log, board.id))
    power = CHIPS[chip].bus_power_dbm
    assert radio_error(board, f"r.setup({power})\nr.tune(915350000)") == "masked_band"
    assert radio_error(board, f"r.setup({power})\nr.tune(920950000)") == "masked_band"
    # A raw setter that bypasses tune()'s check is still caught at the last moment,
    # from the carrier the chip (or the shadow) really holds.
    assert (
        radio_error(
            board, f"r.setup({power})\nr.tune(868300000)\nr._tune(915350000)\nr.transmit(b'x')"
        )
        == "masked_band"
    )
    after = read_air_log(board.bench.folder.air_log, board.id)[before:]
    assert not any(r["freq_hz"] >= 914_900_000 for r in after)


@pytest.mark.parametrize("chip", list(CHIP_BOARDS))
def test_rebinding_the_band_policy_at_the_repl_does_not_talk_a_driver_out_of_it(
    radio_boards, chip
) -> None:
    # The red team: on an unlocked board, `policy.masked = lambda f: False` at the REPL let
    # the driver tune 915.35 MHz (the chip model refused, and the REPL saw tx_timeout). The
    # drivers' check is bound where a rebound module attribute cannot reach it.
    board = radio_boards[chip]
    before = len(read_air_log(board.bench.folder.air_log, board.id))
    power = CHIPS[chip].bus_power_dbm
    unmask = "from subghz import core\ncore.masked = lambda f: False\n"
    assert radio_error(board, unmask + f"r.setup({power})\nr.tune(915350000)") == "masked_band"
    assert (
        radio_error(
            board,
            unmask + f"r.setup({power})\nr.tune(868300000)\nr._tune(915350000)\nr.transmit(b'x')",
        )
        == "masked_band"
    )
    after = read_air_log(board.bench.folder.air_log, board.id)[before:]
    assert not any(r["freq_hz"] >= 914_900_000 for r in after)


def test_out_of_range_arguments_get_typed_errors(radio_boards) -> None:
    board = radio_boards["sx1262"]
    assert radio_error(board, "r.setup(14)\nr.tune(100000000)") == "bad_frequency"
    assert radio_error(board, "r.setup(30)") == "bad_power"
    assert radio_error(board, "r.setup(14)\nr.tune(868300000)\nr.transmit(bytes(200))") == (
        "too_long"
    )
    assert radio_error(radio_boards["cc1101"], "r.setup(14)") == "bad_power"  # board max 10


# --- faults ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("chip", "fault", "code"),
    [
        ("sx1262", "stuck_busy", "busy_timeout"),
        ("sx1262", "wrong_id", "wrong_chip"),
        ("sx1262", "gone", "busy_timeout"),
        ("stm32wl5", "stuck_busy", "busy_timeout"),
        ("sx1276", "wrong_id", "wrong_chip"),
        ("sx1276", "gone", "no_chip"),
        ("cc1101", "wrong_id", "wrong_chip"),
        ("cc1101", "gone", "busy_timeout"),
    ],
)
def test_faulty_chips_fail_cleanly_and_emit_nothing(radio_boards, chip, fault, code) -> None:
    board = radio_boards[chip]
    before = len(read_air_log(board.bench.folder.air_log, board.id))
    board.set_faults(**{fault: True})
    try:
        t0 = time.monotonic()
        assert radio_error(board, "r.setup(10)\nr.tune(868300000)\nr.transmit(b'x')") == code
        assert time.monotonic() - t0 < 10  # bounded waits: an error, never a hang
    finally:
        board.set_faults()
    assert len(read_air_log(board.bench.folder.air_log, board.id)) == before
    assert radio_error(board, "r.setup(10)") == "no error"  # recovers once the fault is gone


def test_a_chip_that_stops_answering_mid_transmit_is_no_chip_not_a_tx_timeout(
    radio_boards,
) -> None:
    # The chip goes away between the last BUSY check and the IRQ status read: MISO floats
    # high and every flag reads 1, which the driver took for the chip's TX timeout (seen
    # under load: tests/test_radio_faults.py's gone chip, 1 run in several). A status of
    # 0xFF is no chip's: the error says the chip stopped answering.
    board = radio_boards["sx1262"]
    script = (
        "r.setup(10)\nr.tune(868300000)\n"
        "def floating(wbuf, rbuf):\n    rbuf[:] = b'\\xff' * len(rbuf)\n"
        "start = r._start_tx\n"
        "def start_then_gone():\n"
        "    start()\n"
        "    r._spi.write_readinto = floating\n"
        "    r._wait_busy = lambda *a: None\n"
        "r._start_tx = start_then_gone\n"
        "r.transmit(b'x')"
    )
    assert radio_error(board, script) == "no_chip"
    assert radio_error(board, "r.setup(10)") == "no error"


# --- models on their own -----------------------------------------------------------------
def _sx126x_tx_sequence(freq: int) -> list[bytes]:
    """The commands a host script would send an SX1262 to transmit 3 octets at `freq`."""
    w = freq * (1 << 25) // 32_000_000
    return [
        bytes.fromhex("8000"),  # SetStandby RC
        bytes.fromhex("8a00"),  # SetPacketType GFSK
        bytes.fromhex("8b002800090a008f5c"),  # SetModulationParams: GB868
        bytes.fromhex("8c004005100000030201"),  # SetPacketParams: 3-octet payload
        bytes.fromhex("9502020001"),  # SetPaConfig for +14 dBm
        bytes.fromhex("8e1604"),  # SetTxParams
        bytes.fromhex("0e001803aa"),  # WriteBuffer: PHR + 1 octet
        bytes((0x86, *w.to_bytes(4, "big"))),  # SetRfFrequency
        bytes.fromhex("83000000"),  # SetTx
    ]


def _drive(model: SX126xModel, txns: list[bytes], clock: list[float]) -> None:
    for txn in txns:
        clock[0] += 0.01  # past any BUSY period
        model.set_pin("nss", 0)
        model.transfer(txn)
        model.set_pin("nss", 1)


def test_witness_sees_a_915_mhz_emission_when_the_model_is_unmasked(tmp_path: Path) -> None:
    folder = BenchFolder(tmp_path)
    write_json(folder.config, {"masked_bands": []})
    clock = [1000.0]
    model = SX126xModel(board_id="m", bench=folder, clock=lambda: clock[0])
    _drive(model, _sx126x_tx_sequence(915_350_000), clock)
    (rec,) = read_air_log(folder.air_log)
    assert rec["emitted"] and abs(rec["freq_hz"] - 915_350_000) < 2
    assert rec["board"] == "m" and rec["power_dbm"] == 14.0


def test_a_masked_model_refuses_and_records_a_violation(tmp_path: Path) -> None:
    folder = BenchFolder(tmp_path)
    clock = [1000.0]
    model = SX126xModel(board_id="m", bench=folder, clock=lambda: clock[0])
    _drive(model, _sx126x_tx_sequence(915_350_000), clock)
    (rec,) = read_air_log(folder.air_log)
    assert not rec["emitted"] and "masked band" in rec["violation"]


def test_spi_while_busy_is_ignored_like_the_chip_does(tmp_path: Path) -> None:
    clock = [1000.0]
    model = SX126xModel(board_id="m", bench=BenchFolder(tmp_path), clock=lambda: clock[0])
    clock[0] += 0.01
    model.set_pin("nss", 0)
    model.transfer(b"\x89\x7f")  # Calibrate: BUSY for ~3.5 ms
    model.set_pin("nss", 1)
    model.set_pin("nss", 0)  # no wait for BUSY
    model.transfer(b"\x8a\x01")
    model.set_pin("nss", 1)
    assert model.busy_violations == 1 and model.packet_type == 0


@pytest.mark.parametrize("chip", sorted(CHIPS))
def test_a_power_cut_releases_chip_select_so_a_cut_transaction_is_never_run(
    tmp_path: Path, chip: str
) -> None:
    # The MCU goes down with the radio: chip select is released with it, as on a board (the
    # models had kept it low; their power cycle cleared the cut transaction, so nothing ran
    # from it, but the pin was not the board's)
    clock = [1000.0]
    model = model_for(chip, board_id="m", bench=BenchFolder(tmp_path), clock=lambda: clock[0])
    clock[0] += 0.01
    model.set_pin("nss", 0)
    model.transfer(b"\x8a")  # the first byte of a transaction, then the power goes
    model.power_cut()
    assert model.nss == 1


def test_after_a_cut_mid_transaction_the_sx126x_runs_the_next_command_alone(
    tmp_path: Path,
) -> None:
    clock = [1000.0]
    model = SX126xModel(board_id="m", bench=BenchFolder(tmp_path), clock=lambda: clock[0])
    clock[0] += 0.01
    model.set_pin("nss", 0)
    model.transfer(b"\x8a")  # SetPacketType, cut before its parameter
    model.power_cut()
    _drive(model, [b"\x8a\x00"], clock)  # SetPacketType GFSK, whole
    assert model.protocol_errors == [] and model.packet_type == 0x00
    _drive(model, [b"\x8a\x01"], clock)  # LoRa
    assert model.protocol_errors == [] and model.packet_type == 0x01


def test_a_busy_line_held_long_is_logged_with_the_model_state(tmp_path: Path) -> None:
    clock = [1000.0]
    said: list[str] = []
    model = SX126xModel(
        board_id="m", bench=BenchFolder(tmp_path), clock=lambda: clock[0], log=said.append
    )
    model.faults = {"stuck_busy": True}
    for _ in range(10):
        clock[0] += 0.005
        assert model.get_pin("busy") == 1
    assert len(said) == 1 and "BUSY read high for" in said[0] and "stuck_busy" in said[0]
    model.faults = {}
    assert model.get_pin("busy") == 0


def test_rssi_hears_other_boards_and_interferers(tmp_path: Path) -> None:
    folder = BenchFolder(tmp_path)
    write_json(folder.config, {"interferers": [{"freq_hz": 868_450_000, "power_dbm": -70}]})
    clock = [1000.0]
    a = SX126xModel(board_id="a", bench=folder, clock=lambda: clock[0])
    b = SX126xModel(board_id="b", bench=folder, clock=lambda: clock[0])
    _drive(a, _sx126x_tx_sequence(868_300_000), clock)
    clock[0] += 0.000_5  # mid-frame
    assert b.rssi_dbm(868_300_000) == pytest.approx(14 - 60)
    assert b.rssi_dbm(868_450_000) == -70
    assert b.rssi_dbm(869_000_000) == -110
    clock[0] += 1  # the frame is over
    assert b.rssi_dbm(868_300_000) == -110


def test_interferer_on_a_simulated_bench_reaches_the_driver(radio_boards) -> None:
    board = radio_boards["sx1262"]
    cfg = json.loads(board.bench.folder.config.read_text())
    cfg["interferers"] = [{"freq_hz": 868_450_000, "power_dbm": -70}]
    write_json(board.bench.folder.config, cfg)
    try:
        out = vm(
            board,
            OPEN + "r.setup(14)\nr.tune(868450000)\na=r.rssi()\n"
            "r.tune(868050000)\nprint(a, r.rssi())",
        )
        assert out.split() == ["-700", "-1100"]  # deci-dBm
    finally:
        cfg["interferers"] = []
        write_json(board.bench.folder.config, cfg)


def test_witness_cli_lists_emissions(radio_boards) -> None:
    import subprocess
    import sys

    dbch = str(Path(sys.executable).parent / "dbch")
    board = radio_boards["sx1276"]
    vm(board, OPEN + "r.setup(14)\nr.tune(868300000)\nr.transmit(b'witness')")
    out = subprocess.run(
        [dbch, "witness", "--sim", board.id, "--json", "--last", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    (line,) = out.stdout.splitlines()  # JSON Lines: one record a line (was one array)
    rec = json.loads(line)
    for key in ("board", "t", "utc", "freq_hz", "power_dbm", "duration_us"):
        assert key in rec
    assert rec["board"] == board.id and bytes.fromhex(rec["bytes"]).endswith(b"witness")
    assert rec["utc"].endswith("+00:00")


def test_witness_follow_streams_each_new_emission_until_ctrl_c(radio_boards) -> None:
    import signal
    import subprocess
    import sys

    dbch = str(Path(sys.executable).parent / "dbch")
    board = radio_boards["sx1276"]
    proc = subprocess.Popen(
        [dbch, "witness", "--sim", board.id, "--json", "--last", "0", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None  # the stream says when it is open: then the emission
        assert "following" in proc.stderr.readline()
        vm(board, OPEN + "r.setup(14)\nr.tune(868500000)\nr.transmit(b'followed')")
        assert proc.stdout is not None
        rec = json.loads(proc.stdout.readline())  # blocks until the emission is streamed
        assert bytes.fromhex(rec["bytes"]).endswith(b"followed") and rec["utc"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0  # Ctrl-C ends a stream: success
