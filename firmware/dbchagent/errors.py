# Typed errors the agent sends back (codes listed in docs/protocol.md), and the argument
# check every command uses, so a bad value is reported with the field it came from.


# Every code the agent sends; each means the request had no effect. The host's wire
# contract (link/spec.py) lists the same codes, with what each means.
CODES = ("bad_frame", "bad_crc", "bad_version", "too_large", "bad_cbor", "bad_request",
         "unknown_command", "bad_argument", "unauthorised", "invalid_config", "unconfigured",
         "radio_locked", "busy", "storage_full", "internal")


class AgentError(Exception):
    def __init__(self, code, field=None, msg=None):
        super().__init__(code, field, msg)
        self.code = code
        self.field = field
        self.msg = msg


def arg(args, name, lo, hi, default=None):
    # An integer argument in lo..hi or, with lo None, bytes of at most hi octets.
    v = args.get(name, default)
    why = None
    if v is None:
        why = "required"
    elif lo is None:
        if type(v) is not bytes:
            why = "must be bytes"
        elif len(v) > hi:
            why = "longer than %d bytes" % hi
    elif type(v) is not int:
        why = "must be an integer"
    elif not lo <= v <= hi:
        why = "must be %d..%d" % (lo, hi)
    if why:
        raise AgentError("bad_argument", name, why)
    return v


def no_extra(args, allowed):
    for k in args:
        if k not in allowed:
            raise AgentError("bad_argument", str(k), "unknown argument")
