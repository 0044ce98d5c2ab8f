# The Sub-GHz side of a Dual Band Comms Hub, as the agent stands in for it: the
# configuration in force, the radio, the operating channel, duty cycle, the transmit gate,
# alerts and the event log. Boot: erased flash means no configuration, and then the radio
# stays off and nothing is transmitted until a configuration is set.
from dbchagent import store
from dbchagent.app import Agent
from dbchagent.runtime import release
from dbchagent.channel import Channels
from dbchagent.duty_cycle import DutyCycle
from dbchagent.events import EventLog
from dbchagent.gate import Gate, Refused
from dbchagent.radio_ctl import RadioCtl
from subghz.core import RadioError


class Hub(Agent):
    def __init__(self, board, console=None):
        super().__init__(console)
        store.clean()
        self.board = board
        self.log = EventLog(self)
        self.ctl = RadioCtl(board)
        self.duty = DutyCycle()
        self.duty.load(self.uptime.now_ms())
        self.channels = Channels(self, self.ctl, self.log)
        self.gate = Gate(self, self.ctl, self.duty, self.log)
        if self.ctl.radio is not None:
            self.ctl.radio.tx_guard = self.gate
        self.traffic = None  # a running bench traffic job (traffic.py)
        from dbchagent import config_check

        self.config, self.config_problem = config_check.load()
        del config_check
        release("dbchagent.config_check")
        if self.config is not None:
            self.use_config(self.config)
        elif self.ctl.state != "locked":
            self.ctl.off(self.config_problem or "unconfigured: erased flash")
        self.tickers += [self.duty.tick, self.gate.tick, self.ctl.tick, self.channels.tick]
        # The duty-cycle state from the usage kept across the reset, before any request
        # is answered (status must not say "normal" for a board at its cap).
        self.gate.update_duty(self.uptime.now_ms(), True)
        self.status_parts.append(_status)
        from dbchagent import auth, cmd_system

        cfg = self.config
        req = 0 if cfg is None else cfg.req
        if req > self.log.config_req:
            # A power cut fell between storing a configuration and its audit record: the
            # record is written now, once (the stored configuration carries its request).
            self.log.alert(0x8F2A, {"hash": cfg.hash, "req": req, "at_boot": True}, True)
        self.log.record("reset", {"cause": cmd_system.RESET_CAUSE, "config_req": req}, True)
        auth.check_counter(self)
        del auth
        release("dbchagent.auth")

    def use_config(self, cfg):
        # Put a validated configuration into force: radio set up, operating channel kept
        # if still allowed (else moved at once), tuned and read back.
        self.config = cfg
        self.config_problem = None
        if self.ctl.prepare(cfg):
            self.channels.ensure_allowed(cfg)
            self.retune()
        elif self.channels.operating is None or not cfg.allows(*self.channels.operating):
            self.channels.ensure_allowed(cfg)

    def retune(self):
        op = self.channels.operating
        if op is not None and self.ctl.radio is not None and self.ctl.radio.configured:
            self.ctl.apply(self.config, op[0], op[1])

    def transmit(self, psdu):
        # One frame through the gate: None when sent, else the reason it was refused.
        radio = self.ctl.radio
        try:
            if self.config is None:
                self.gate.refuse("unconfigured", "no configuration in force")
            if radio is None or self.ctl.state != "ready":
                self.gate.refuse("radio_locked", self.ctl.reason or "")
            air = radio.transmit(psdu)
        except Refused as e:
            return e.reason
        except RadioError as e:
            if e.code == "masked_band":  # the driver's build policy refused the carrier
                return self.refuse_masked(e.msg)
            self.count("tx_errors")
            self.ctl.lock("transmit failed: %s: %s" % (e.code, e.msg))
            return "radio_error"
        self.gate.sent(air)
        return None

    def refuse_masked(self, msg):
        try:
            self.gate.refuse("masked_band", msg)
        except Refused:
            pass
        return "masked_band"

    def wants_service(self, now_ms):
        return self.traffic is not None and self.traffic.due(now_ms)


def _status(hub, st):
    cfg = hub.config
    # The fields themselves come with get_config (DBCH03): status stays small.
    st["config"] = None if cfg is None else {
        "hash": cfg.hash, "table": cfg.table, "region": cfg.region}
    st["config_problem"] = hub.config_problem
    st["channel"] = hub.channels.report()
    st["radio"] = hub.ctl.report()
    st["duty"] = hub.gate.report(hub.uptime.now_ms())
    st["traffic"] = hub.traffic.report() if hub.traffic else None
    st["events"] = {"last_seq": hub.log.seq, "write_errors": hub.log.write_errors}
    st["auth"] = hub.auth_health
    if cfg is not None and hub.channels.operating is not None:
        st["channel"]["allowed"] = cfg.allows(*hub.channels.operating)
