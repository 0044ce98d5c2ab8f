# Typed errors the agent sends back (codes listed in docs/protocol.md), and the argument
# checks every command uses so a bad value is reported with the field it came from.


class AgentError(Exception):
    def __init__(self, code, field=None, msg=None):
        super().__init__(code, field, msg)
        self.code = code
        self.field = field
        self.msg = msg


def bad(field, msg):
    return AgentError("bad_argument", field, msg)


def get_int(args, name, lo, hi, default=None):
    v = args.get(name, default)
    if v is None:
        raise bad(name, "required")
    if type(v) is not int:
        raise bad(name, "must be an integer")
    if v < lo or v > hi:
        raise bad(name, "must be %d..%d" % (lo, hi))
    return v


def get_bytes(args, name, max_len, default=None):
    v = args.get(name, default)
    if v is None:
        raise bad(name, "required")
    if type(v) is not bytes:
        raise bad(name, "must be bytes")
    if len(v) > max_len:
        raise bad(name, "longer than %d bytes" % max_len)
    return v


def get_bool(args, name, default=False):
    v = args.get(name, default)
    if type(v) is not bool:
        raise bad(name, "must be true or false")
    return v


def no_extra(args, allowed):
    for k in args:
        if k not in allowed:
            raise bad(str(k), "unknown argument")
