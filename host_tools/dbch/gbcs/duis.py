"""DUIS XML for service request 6.28 SetCHFSubGHzConfiguration: read it into a
configuration, write one from a table region. ElementTree parses and builds the XML; no
string splicing.

Body layout (docs/reference.md §4): the four mask elements, each holding one empty child per
enabled channel named by its logical number (<sr:Channel28/>), then the eleven scalars as
decimal text, percentages written as percent ("1.3" is 130 in DLMS).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from dbch.errors import TableError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.subghz_config import FIELDS, ConfigError, SubGhzConfig

NS = "http://www.dccinterface.co.uk/ServiceUserGateway"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
SERVICE_REFERENCE = "6.28"
BODY = "SetCHFSubGHzConfiguration"
# The version the current templates carry: @smartdcc/duis-templates 0.7.0 (npm),
# templates/DBCH04_6.28_SUCCESS_REQUEST_DUIS.XML, schemaVersion="5.4".
SCHEMA_VERSION = "5.4"
# The channels each lower-band element may list, by its name (27To34: 27-34): the DUIS 5.4
# schema's Channels27To34 lists 27 to 34 only, so channel 62 (page 29 carries a bit for it)
# cannot be asked for in DUIS.
_ELEMENT_RANGE = {"LowerBandSubGHzChannels27To34": range(27, 35)}
_DECIMAL = re.compile(r"\d+(\.\d+)?")
_CHANNEL = re.compile(r"Channel(\d+)")


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _local(tag: str) -> str:
    return tag.split("}", 1)[-1]


def _text_int(el: ET.Element, file: str, where: str, percent: bool) -> int:
    text = (el.text or "").strip()
    if not _DECIMAL.fullmatch(text):
        raise TableError(file, where, f"{text!r} is not a decimal number")
    try:
        value = Decimal(text) * (100 if percent else 1)
    except InvalidOperation:
        raise TableError(file, where, f"{text!r} is not a decimal number") from None
    if value != value.to_integral_value():
        unit = "0.01 %" if percent else "whole numbers"
        raise TableError(file, where, f"{text} has more precision than {unit}")
    return int(value)


def _request_root(xml: bytes, file: str) -> ET.Element:
    """A DUIS Request's root element; TableError for anything else (no DTDs, no entities:
    ElementTree would expand them)."""
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise TableError(file, "", "DTDs and entities are not accepted in DUIS requests")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise TableError(file, "", f"malformed XML: {e}") from None
    if root.tag != _q("Request"):
        raise TableError(file, "", f"root element is {root.tag}, expected sr:Request in {NS}")
    return root


def parse_set_config(xml: bytes, file: str = "<duis>") -> SubGhzConfig:
    """The configuration in a 6.28 request; TableError names the element and the reason."""
    root = _request_root(xml, file)
    ref = root.findtext(f"{_q('Header')}/{_q('ServiceReference')}")
    if ref is None:
        raise TableError(file, "Header.ServiceReference", "missing")
    if ref.strip() != SERVICE_REFERENCE:
        raise TableError(
            file,
            "Header.ServiceReference",
            f"{ref.strip()} is not {SERVICE_REFERENCE} (SetCHFSubGHzConfiguration)",
        )
    body = root.find(f"{_q('Body')}/{_q(BODY)}")
    if body is None:
        raise TableError(file, f"Body.{BODY}", "missing")
    children = list(body)
    names = [_local(c.tag) for c in children]
    expected = [f.duis for f in FIELDS]
    if names != expected:
        for i, (got, want) in enumerate(zip(names + [""] * 15, expected, strict=False)):
            if got != want:
                where = f"Body.{BODY}[{i + 1}]"
                raise TableError(file, where, f"expected {want}, found {got or 'nothing'}")
        raise TableError(file, f"Body.{BODY}", f"unexpected element {names[len(expected)]}")
    values = []
    for spec, el in zip(FIELDS, children, strict=True):
        where = f"{BODY}.{spec.duis}"
        if spec.page is not None:
            if (el.text or "").strip():
                raise TableError(file, where, "holds text; expected only Channel elements")
            chans = []
            for ch in el:
                m = _CHANNEL.fullmatch(_local(ch.tag))
                if not m or ch.tag != _q(_local(ch.tag)):
                    raise TableError(file, where, f"unexpected element {_local(ch.tag)}")
                n = int(m.group(1))
                allowed = _ELEMENT_RANGE.get(spec.duis, plan.channels(spec.page))
                if n not in allowed:
                    raise TableError(
                        file, f"{where}.Channel{n}", f"channel {n} is not on page {spec.page}"
                    )
                if n in chans:
                    raise TableError(file, f"{where}.Channel{n}", "listed twice")
                chans.append(n)
            values.append(plan.mask_word(spec.page, chans))
        else:
            if len(el):
                raise TableError(file, where, "expected a number, found child elements")
            values.append(_text_int(el, file, where, spec.percent))
    # Values GBCS or the DUIS schema cannot carry are not a reading error: `problems()`
    # lists them all (duis import, exit 1), `validate()` refuses them (apply, export).
    return SubGhzConfig.from_values(values)


def read_file(path: Path) -> SubGhzConfig:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TableError(str(path), "", f"cannot read: {e.strerror}") from None
    return parse_set_config(data, str(path))


_SHORT_DECIMALS = ("normal_limited_threshold", "limited_critical_threshold")


def _percent_text(value: int, key: str = "") -> str:
    # As the templates write them: the duty-cycle thresholds as short decimals ("1.3"),
    # the other percentages with two places ("60.00").
    text = f"{value / 100:.2f}"
    return text.rstrip("0").rstrip(".") if key in _SHORT_DECIMALS else text


_EUI64 = re.compile(r"[0-9A-F]{2}(-[0-9A-F]{2}){7}")


def request_id(originator: str, target: str, counter: int) -> str:
    """A DUIS RequestID: business originator EUI-64, target device EUI-64, counter, as the
    templates write it (90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A2:1000)."""
    for what, eui in (("originator", originator), ("target", target)):
        if not _EUI64.fullmatch(eui.upper()):
            raise TableError(
                f"--{what}", "", f"{eui!r} is not an EUI-64 (e.g. 00-DB-12-34-56-78-90-A2)"
            )
    if not 0 <= counter < 2**64:
        raise TableError("--counter", "", f"{counter} is not a 64-bit counter")
    return f"{originator.upper()}:{target.upper()}:{counter}"


def _signature_placeholder(root: ET.Element) -> None:
    # The ds:Signature element the templates carry, with placeholder values: a service
    # user's signing tool replaces them (this tool holds no DCC key).
    sig = ET.SubElement(root, f"{{{DS_NS}}}Signature")
    sig.append(ET.Comment(" placeholders: sign with the service user's key before submission "))
    info = ET.SubElement(sig, f"{{{DS_NS}}}SignedInfo")
    for tag, alg in (
        ("CanonicalizationMethod", "http://www.w3.org/2001/10/xml-exc-c14n#"),
        ("SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"),
    ):
        ET.SubElement(info, f"{{{DS_NS}}}{tag}", {"Algorithm": alg})
    ref = ET.SubElement(info, f"{{{DS_NS}}}Reference", {"URI": ""})
    ET.SubElement(
        ET.SubElement(ref, f"{{{DS_NS}}}Transforms"),
        f"{{{DS_NS}}}Transform",
        {"Algorithm": "http://www.w3.org/2000/09/xmldsig#enveloped-signature"},
    )
    ET.SubElement(
        ref, f"{{{DS_NS}}}DigestMethod", {"Algorithm": "http://www.w3.org/2001/04/xmlenc#sha256"}
    )
    ET.SubElement(ref, f"{{{DS_NS}}}DigestValue").text = ""
    ET.SubElement(sig, f"{{{DS_NS}}}SignatureValue").text = ""


def write_set_config(
    cfg: SubGhzConfig,
    request_id: str = "00-00-00-00-00-00-00-00:00-00-00-00-00-00-00-00:1",
    schema_version: str = SCHEMA_VERSION,
    signature_placeholder: bool = False,
) -> bytes:
    """An unsigned 6.28 request for `cfg`. DUIS requests must be signed (XML-DSig) by the
    service user's key before submission; this tool does not hold that key
    (`signature_placeholder`: the templates' empty ds:Signature element, to fill in)."""
    cfg.validate()
    if 62 in plan.decode_word(cfg.page29, 29)[1]:
        raise ConfigError(
            "page29",
            "channel 62 has no place in a DUIS 6.28 request: the DUIS 5.4 schema's "
            "LowerBandSubGHzChannels27To34 lists channels 27-34 only",
        )
    ET.register_namespace("sr", NS)
    ET.register_namespace("ds", DS_NS)
    root = ET.Element(_q("Request"), {"schemaVersion": schema_version})
    header = ET.SubElement(root, _q("Header"))
    for name, text in (
        ("RequestID", request_id),
        ("CommandVariant", "1"),
        ("ServiceReference", SERVICE_REFERENCE),
        ("ServiceReferenceVariant", SERVICE_REFERENCE),
    ):
        ET.SubElement(header, _q(name)).text = text
    body = ET.SubElement(ET.SubElement(root, _q("Body")), _q(BODY))
    for spec, value in zip(FIELDS, cfg.values(), strict=True):
        el = ET.SubElement(body, _q(spec.duis))
        if spec.page is not None:
            for n in plan.decode_word(value, spec.page)[1]:
                ET.SubElement(el, _q(f"Channel{n}"))
        else:
            el.text = _percent_text(value, spec.key) if spec.percent else str(value)
    if signature_placeholder:
        _signature_placeholder(root)
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


# --- any DBCH request, and the responses a DCC returns ----------------------------------------
# DUIS service reference -> (use case, body element), from the DUIS templates (DBCH01-05).
DBCH_SERVICES = {
    "6.28": ("DBCH04", "SetCHFSubGHzConfiguration"),
    "6.29": ("DBCH05", "RequestCHFSubGHzChannelScan"),
    "6.30": ("DBCH03", "ReadCHFSubGHzConfiguration"),
    "6.31": ("DBCH01", "ReadCHFSubGHzChannel"),
    "6.32": ("DBCH02", "ReadCHFSubGHzChannelLog"),
}
_REQUEST_ID = re.compile(
    r"([0-9A-F]{2}(?:-[0-9A-F]{2}){7}):([0-9A-F]{2}(?:-[0-9A-F]{2}){7}):(\d+)"
)


@dataclass(frozen=True)
class DuisRequest:
    request_id: str
    originator: str  # the business originator's EUI-64
    target: str  # the device's EUI-64
    counter: int
    service_reference: str
    use_case: str
    config: SubGhzConfig | None = None  # 6.28
    log_from: dt.datetime | None = None  # 6.32
    log_to: dt.datetime | None = None


def parse_request(xml: bytes, file: str = "<duis>") -> DuisRequest:
    """Any DBCH DUIS request (6.28-6.32); TableError names the element and the reason."""
    root = _request_root(xml, file)
    rid = (root.findtext(f"{_q('Header')}/{_q('RequestID')}") or "").strip()
    m = _REQUEST_ID.fullmatch(rid.upper())
    if not m:
        raise TableError(file, "Header.RequestID", f"{rid!r} is not ORIGINATOR:TARGET:COUNTER")
    ref = (root.findtext(f"{_q('Header')}/{_q('ServiceReference')}") or "").strip()
    if ref not in DBCH_SERVICES:
        known = ", ".join(sorted(DBCH_SERVICES))
        raise TableError(
            file, "Header.ServiceReference", f"{ref!r} is not a DBCH service ({known})"
        )
    use_case, element = DBCH_SERVICES[ref]
    body = root.find(f"{_q('Body')}/{_q(element)}")
    if body is None:
        raise TableError(file, f"Body.{element}", "missing")
    fields: dict[str, object] = {}
    if ref == "6.28":
        fields["config"] = parse_set_config(xml, file)
    elif ref == "6.32":
        period = body.find(_q("ReadLogPeriod"))
        for key, name in (("log_from", "StartDateTime"), ("log_to", "EndDateTime")):
            text = (period.findtext(_q(name)) if period is not None else None) or ""
            try:
                fields[key] = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError:
                raise TableError(
                    file, f"{element}.ReadLogPeriod.{name}", f"{text!r} is not a date-time"
                ) from None
    return DuisRequest(
        rid.upper(), m.group(1), m.group(2), int(m.group(3)), ref, use_case, **fields
    )  # type: ignore[arg-type]


def _response_root(response_code: str, when: dt.datetime, request_id: str | None) -> tuple:
    ET.register_namespace("sr", NS)
    root = ET.Element(_q("Response"), {"schemaVersion": SCHEMA_VERSION})
    header = ET.SubElement(root, _q("Header"))
    if request_id:
        ET.SubElement(header, _q("RequestID")).text = request_id
    ET.SubElement(header, _q("ResponseCode")).text = response_code
    stamp = when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    ET.SubElement(header, _q("ResponseDateTime")).text = stamp
    return root, ET.SubElement(root, _q("Body"))


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def write_response(request: DuisRequest, gbcs: bytes, when: dt.datetime) -> bytes:
    """The DUIS Response a DCC returns with a device's GBCS response: ResponseCode I0
    (success: the device answered, whatever its GBCS result says)."""
    root, body = _response_root("I0", when, request.request_id)
    message = ET.SubElement(body, _q("ResponseMessage"))
    ET.SubElement(message, _q("ServiceReference")).text = request.service_reference
    ET.SubElement(message, _q("ServiceReferenceVariant")).text = request.service_reference
    ET.SubElement(message, _q("GBCSPayload")).text = base64.b64encode(gbcs).decode()
    return _xml(root)


def write_device_alert(alert_code: int, gbcs: bytes, when: dt.datetime) -> bytes:
    """A device alert as the DCC passes it on: a Response whose body is a
    DeviceAlertMessage (the alert code, its GBCS message). ResponseCode I0: unverified for
    alerts (the schema requires one; no text read here says which)."""
    root, body = _response_root("I0", when, None)
    message = ET.SubElement(body, _q("DeviceAlertMessage"))
    ET.SubElement(message, _q("AlertCode")).text = f"{alert_code:04X}"
    ET.SubElement(message, _q("GBCSPayload")).text = base64.b64encode(gbcs).decode()
    return _xml(root)
