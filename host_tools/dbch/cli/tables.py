"""`dbch tables`, `dbch gbcs` and `dbch duis`: the SEC configuration tables and the formats
the industry uses for them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dbch.cli.printing import print_json, print_table
from dbch.errors import TableError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs import dlms, duis, messages
from dbch.gbcs.compare import describe
from dbch.gbcs.subghz_config import FIELDS
from dbch.gbcs.table_diff import diff, impact, load_device_records
from dbch.gbcs.tables import (
    REGIONS,
    TableVersion,
    all_tables,
    choose_configuration,
    get_table,
    load_table_file,
)
from dbch.output import key_values


def _mark(placeholder: str | None) -> str:
    return " *" if placeholder else ""


def _show(t: TableVersion, region: str | None, as_json: bool) -> None:
    regions = [region] if region else list(REGIONS)
    if as_json:
        print_json(
            {
                **t.summary(),
                "notes": t.notes,
                "regulatory": {
                    "cap_ms_per_hour": {
                        f"page{p}": v for p, v in t.regulatory.cap_ms_per_hour.items()
                    },
                    "lbt_threshold_ddbm": t.regulatory.lbt_threshold_ddbm,
                    "max_tx_ddbm": t.regulatory.max_tx_ddbm,
                    "placeholders": t.regulatory_placeholders,
                },
                "regions": {
                    r: {
                        "fields": {
                            k: {"value": q.value, "rule": q.rule, "placeholder": q.placeholder}
                            for k, q in t.region(r).requirements.items()
                        },
                        "hash": t.record_hash(r),
                        "channels": [
                            {
                                "page": c.page,
                                "channel": c.number,
                                "freq_hz": c.freq_hz,
                                "allowed": c in set(t.region(r).allowed()),
                            }
                            for c in plan.all_channels()
                        ],
                    }
                    for r in regions
                },
            }
        )
        return
    reg = t.regulatory
    print(
        key_values(
            [
                ("table", t.id),
                ("title", t.title),
                ("status", t.status),
                ("effective", t.effective or "not in force"),
                ("supersedes", t.supersedes or "-"),
                ("source", f"{t.source.document} ({t.source.date})"),
                ("clause", t.source.clause),
                (
                    "duty-cycle caps",
                    ", ".join(
                        f"page {p} {v / 1000:g} s/h" for p, v in reg.cap_ms_per_hour.items()
                    ),
                ),
                (
                    "LBT threshold",
                    f"{reg.lbt_threshold_ddbm / 10:g} dBm"
                    + _mark(t.regulatory_placeholders.get("lbt_threshold_dbm")),
                ),
                (
                    "max TX power",
                    f"{reg.max_tx_ddbm / 10:g} dBm"
                    + _mark(t.regulatory_placeholders.get("max_tx_power_dbm")),
                ),
            ]
        )
    )
    print()
    rows = []
    for spec in FIELDS:
        reqs = [t.region(r).requirements[spec.key] for r in regions]
        rows.append(
            [
                spec.key,
                reqs[0].rule,
                *(describe(spec.key, q.value) + _mark(q.placeholder) for q in reqs),
            ]
        )
    print_table(["FIELD", "RULE", *(r.upper() for r in regions)], rows)
    print()
    allowed = {r: set(t.region(r).allowed()) for r in regions}
    print_table(
        ["PAGE", "CH", "MHZ", *(r.upper() for r in regions)],
        [
            [
                c.page,
                c.number,
                plan.mhz(c.freq_hz),
                *(
                    "allowed" if c in allowed[r] else "masked" if c.masked_band else "-"
                    for r in regions
                ),
            ]
            for c in plan.all_channels()
        ],
    )
    places = [
        (w, why)
        for w, why in t.placeholders()
        if not w.startswith("regions.") or w.split(".")[1] in regions
    ]
    if places:
        print(f"\n* placeholder: no public source gives this value ({len(places)}):")
        for where, why in places:
            print(f"  {where}: {why}")


def do_tables(args: argparse.Namespace) -> int:
    verb = args.tables_verb
    if verb == "list":
        tables = all_tables()
        if args.json:
            print_json([t.summary() for t in tables])
        else:
            print_table(
                ["ID", "STATUS", "EFFECTIVE", "SUPERSEDES", "PLACEHOLDERS", "TITLE"],
                [
                    (
                        t.id,
                        t.status,
                        t.effective or "-",
                        t.supersedes or "-",
                        len(t.placeholders()),
                        t.title,
                    )
                    for t in tables
                ],
            )
    elif verb == "show":
        _show(get_table(args.id), args.region, args.json)
    elif verb == "validate":
        refused = 0
        for f in args.files:
            t = load_table_file(f, check_name=False)
            problems = t.duis_problems()  # readable, but not what a DUIS request can carry
            if problems:
                refused += 1
                print(f"{f}: refused ({t.id}): DUIS cannot carry {len(problems)} values")
                for p in problems:
                    print(f"  {p}")
            else:
                print(f"{f}: ok ({t.id}, {len(t.placeholders())} placeholders)")
        return 1 if refused else 0
    elif verb == "diff":
        d = diff(get_table(args.old), get_table(args.new))
        if args.json:
            print_json(d.as_dict())
            return 0
        print(f"{d.old.id} -> {d.new.id}")
        for what, old, new in d.other:
            print(f"  {what}: {old} -> {new}")
        if not d.changes:
            print("  no field differs in any region")
        for c in d.changes:
            print(f"  {c.region:8} {c.field}: {c.text()}")
    elif verb == "impact":
        old, new = get_table(args.old), get_table(args.new)
        results = impact(old, new, load_device_records(args.status), args.region)
        left_out = [r for r in results if r.left_out]
        if args.json:
            print_json(
                {
                    "old": old.id,
                    "new": new.id,
                    "devices": [r.as_dict() for r in results],
                    "left_out": [r.device.name for r in left_out],
                }
            )
        else:
            print(
                f"{len(results)} devices; {len(left_out)} conform to {old.id} but not to {new.id}"
            )
            for r in left_out:
                print(f"\n{r.device.name} ({r.region}, {r.device.file}) must change:")
                for line in r.changes():
                    print(f"  {line}")
            others = [r for r in results if r.conforms_old is False]
            if others:
                print(
                    f"\n{len(others)} already did not conform to {old.id}: "
                    + ", ".join(r.device.name for r in others)
                )
            unknown = [r for r in results if r.unknown]
            if unknown:
                print(
                    f"\n{len(unknown)} cannot be checked (no fields reported, a hash of "
                    "neither version's record; save `dbch config --json` instead): "
                    + ", ".join(r.device.name for r in unknown)
                )
        return 1 if left_out else 0
    return 0


def do_gbcs(args: argparse.Namespace) -> int:
    if args.gbcs_verb == "encode":
        chosen = choose_configuration(args.table, args.region, args.duis)
        data = dlms.encode(chosen.config)
        if args.pretty:
            groups, i = [data[:2].hex().upper()], 2
            for spec in FIELDS:
                n = {"bitstring32": 6, "u16": 3, "u8": 2}[spec.dlms]
                groups.append(data[i : i + n].hex().upper())
                i += n
            print(" ".join(groups))
        else:
            print(data.hex().upper())
        return 0
    where, payload = _message_input(args.input)
    if payload[:1] in (b"\xdd", b"\xdf"):  # a GBCS message: it reads whole, or exit 2
        try:
            return _show_message(messages.decode(payload), args.json)
        except dlms.DlmsError as e:
            raise TableError(where, "", str(e)) from None
    try:  # a bare DLMS configuration, or one inside some other payload
        offset, cfg = dlms.find(payload)
    except dlms.DlmsError as e:
        raise TableError(where, "", str(e)) from None
    problems = cfg.problems()
    if args.json:
        print_json(
            {
                "offset": offset,
                "fields": cfg.as_dict(),
                "valid": not problems,
                "problems": problems,
            }
        )
    else:
        if offset:
            print(f"structure found at byte {offset}")
        print_table(
            ["#", "FIELD", "DUIS", "VALUE"],
            [
                (i, s.key, s.duis, describe(s.key, v))
                for i, (s, v) in enumerate(zip(FIELDS, cfg.values(), strict=True), 1)
            ],
        )
        for p in problems:
            print(f"problem: {p}", file=sys.stderr)
    return 1 if problems else 0


def _is_file(arg: str) -> bool:
    try:
        return Path(arg).is_file()
    except OSError:  # a long hex argument is no file name
        return False


def _message_input(arg: str) -> tuple[str, bytes]:
    """(what to call it in an error, its octets): hex text, a file of hex or binary, or -."""
    if arg == "-":
        where, raw = "stdin", sys.stdin.buffer.read()
    elif _is_file(arg):
        where, raw = arg, Path(arg).read_bytes()
    else:
        where, raw = "HEX", arg.encode()
    if where != "HEX" and raw[:1] in (b"\xdd", b"\xdf"):
        return where, raw  # binary
    try:
        return where, dlms.parse_hex(raw.decode("ascii", errors="replace"))
    except dlms.DlmsError as e:
        raise TableError(where, "", str(e)) from None


def _show_message(decoded: dict, as_json: bool) -> int:
    """A decoded DBCH message; exit 1 when it reports a problem (an error result, a
    configuration DUIS or the SEC does not allow)."""
    problems = messages.problems(decoded)
    if as_json:
        print_json(decoded)
        return 1 if problems else 0
    h = decoded["header"]
    print(
        f"{decoded['use_case'] or h['message_code']} {decoded['name']}: {h['cra_flag'].lower()}"
        + (f" (DUIS {decoded['service_reference']})" if decoded.get("service_reference") else "")
    )
    rows = [
        ("message code", h["message_code"]),
        ("originator", f"{h['originator']} (counter {h['originator_counter']})"),
        ("recipient", h["recipient"]),
    ]
    if "supplementary_remote_party_id" in h:
        rows.append(
            (
                "remote party",
                f"{h['supplementary_remote_party_id']} "
                f"(counter {h.get('supplementary_remote_party_counter')})",
            )
        )
    if h.get("mac_header"):
        rows.append(("MAC", f"{h['mac']} (not verified: no GBCS keys here)"))
    print(key_values(rows))
    for req in decoded.get("requests", []):
        print(
            f"  {req['access']} {req['object']} {req['object_name']}, attribute {req['attribute']}"
        )
    for res in decoded.get("results", []):
        print(f"  {res['access']}: data-access-result {res['result']} ({res['name']})")
    if "alert_code" in decoded:
        print(
            f"  alert 0x{decoded['alert_code']:04X} {decoded['alert_name']} "
            f"at {decoded.get('date_time')}"
        )
    if "channel" in decoded:
        print(f"  operating channel {_channel_text(decoded['channel'])}")
    if "log_period" in decoded:
        print(f"  log from {decoded['log_period']['from']} to {decoded['log_period']['to']}")
    for name, fields in (decoded.get("payload") or {}).items():
        shown = ", ".join(
            f"{k} {_channel_text(v) if isinstance(v, dict) else v}" for k, v in fields.items()
        )
        print(f"  {name}: {shown}")
    for key, value in (decoded.get("configuration") or {}).items():
        print(f"  {key:32} {describe(key, value)}")
    if "entries" in decoded:
        print(f"  {len(decoded['entries'])} channel changes")
        print_table(
            ["TIME", "ALERT", "CHANNEL", "TRIGGER"],
            [
                (
                    e["time"],
                    f"0x{e['code']:04X} {e['alert']}",
                    _channel_text(e),
                    e.get("ScanTrigger", e.get("rest")),
                )
                for e in decoded["entries"]
            ],
        )
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if problems else 0


def _channel_text(d: dict) -> str:
    masked = ", masked band: not allowed since the 2018 decision" if d["masked_band"] else ""
    return f"p{d['page']}/ch{d['channel']} ({plan.mhz(d['freq_hz'])} MHz){masked}"


def _duis_run(args: argparse.Namespace) -> int:
    """`dbch duis run`: the logic is checks/duis_bench.py; here only files and words."""
    from dbch.checks import duis_bench
    from dbch.errors import TransportError
    from dbch.link.client import AgentClient
    from dbch.link.ports import resolve_port

    try:
        data = args.request.read_bytes()
    except OSError as e:
        raise TableError(str(args.request), "", f"cannot read: {e.strerror}") from None
    request = duis.parse_request(data, str(args.request))
    duis.request_id(request.originator, args.acb, 0)  # --acb must be an EUI-64
    try:
        with AgentClient(resolve_port(args.port)) as hub:
            run = duis_bench.run(request, hub, args.acb.upper(), args.strict_target)
    except TransportError as e:
        raise TransportError(
            f"{e}: the board did not answer {request.request_id}; no DUIS Response is written "
            "(a DCC reports a device that does not answer as a DCC alert with CommandFailure; "
            "its N code is unverified here)"
        ) from None
    out_dir = args.output.parent if args.output else Path.cwd()
    alerts_dir = args.alerts or out_dir
    alerts_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for code, seq, xml in run.alerts:
        f = alerts_dir / f"alert-{code:04X}-{seq}.xml"
        f.write_bytes(xml)
        written.append(str(f))
    if args.output:
        args.output.write_bytes(run.response)
        board_file = args.output.with_name(args.output.name + ".board.json")
        board_file.write_text(json.dumps(run.board, indent=1) + "\n")
    summary = {
        "request_id": request.request_id,
        "use_case": request.use_case,
        "service_reference": request.service_reference,
        "result": run.decoded.get("result"),
        "refusal": run.refusal,
        "board": run.board,
        "response": str(args.output) if args.output else None,
        "alerts": written,
        "alerts_not_passed_on": [f"{c:04X}" for c in run.not_passed_on],
        "gbcs": run.decoded,
    }
    if args.json:
        print_json(summary)
    else:
        if not args.output:
            sys.stdout.write(run.response.decode())
        answered = run.board["answered_as"]
        mismatch = "" if run.board["target_matches"] else f", answering as {answered}"
        print(
            f"{request.use_case} ({request.service_reference}) on {run.board['board']} "
            f"{run.board['eui64']}{mismatch}: {run.decoded.get('result')}"
            + (f" ({run.refusal})" if run.refusal else "")
            + f"; {len(written)} alerts written"
            + (f" to {alerts_dir}" if written else ""),
            file=sys.stderr,
        )
        print("note: the GBCS MAC in the response is zeros, not a real MAC", file=sys.stderr)
    return 0 if run.ok else 1


def do_duis(args: argparse.Namespace) -> int:
    if args.duis_verb == "run":
        return _duis_run(args)
    if args.duis_verb == "import":
        cfg = duis.read_file(args.file)
        problems = cfg.problems()  # e.g. 915 MHz channels: valid DUIS, not SEC-compliant
        if args.json:
            print_json(
                {
                    "fields": cfg.as_dict(),
                    "dlms": dlms.encode(cfg).hex().upper(),
                    "problems": problems,
                }
            )
        else:
            print_table(
                ["FIELD", "VALUE"], [(k, describe(k, v)) for k, v in cfg.as_dict().items()]
            )
            for p in problems:
                print(f"problem: {p}", file=sys.stderr)
        return 1 if problems else 0
    t = get_table(args.id)
    t.require_duis(args.region)
    rid = args.request_id
    if args.originator or args.target or args.counter is not None:
        rid = duis.request_id(
            args.originator or "00-00-00-00-00-00-00-00",
            args.target or "00-00-00-00-00-00-00-00",
            1 if args.counter is None else args.counter,
        )
    xml = duis.write_set_config(
        t.region(args.region).config(), rid, signature_placeholder=args.signature_placeholder
    )
    if args.output:
        args.output.write_bytes(xml)
        print(f"written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(xml.decode())
    print("note: unsigned; sign it with your DUIS signing tool before submission", file=sys.stderr)
    if _ZERO_EUI in rid:
        print(
            f"note: the RequestID {rid} names no real originator or hub (all-zero EUI-64s): "
            "give --originator and --target (or --request-id) before submission",
            file=sys.stderr,
        )
    return 0


_ZERO_EUI = "00-00-00-00-00-00-00-00"
