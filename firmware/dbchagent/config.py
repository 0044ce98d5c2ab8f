# The configuration in force: the canonical record the host sends (CBOR
# [1, [15 GBCS fields], [caps per page 28..31 in ms/h, LBT threshold, max TX power in
# deci-dBm]]) and its content hash. Validation and the copy on flash: config_check.py,
# loaded only at boot and when a configuration is set.
import hashlib
import binascii
from dbchagent import channel_mask

# GBCS field names in order
NAMES = (
    "page28", "page29", "page30", "page31", "normal_limited_threshold",
    "limited_critical_threshold", "max_channel_changes_per_week", "gsme_curfew",
    "channel_quieter_threshold", "channel_noisier_threshold", "non_gsme_poor_comms_threshold",
    "non_gsme_poor_comms_periods", "local_ch_noise_period", "local_ch_failure_percentage",
    "local_ch_retry_percentage",
)


def threshold_ms(percent_x100):
    # % x 100 of an hour as airtime in ms: 150 (1.5 %) -> 54000
    return percent_x100 * 360


class Config:
    def __init__(self, record, values, reg, table=None, region=None):
        self.record = record
        self.values = values  # the 15 GBCS values in order
        self.caps = reg[0:4]  # regulated airtime per hour, ms, pages 28..31
        self.lbt_ddbm = reg[4]
        self.max_tx_ddbm = reg[5]
        self.table = table
        self.region = region
        self.req = 0  # the counter of the authorised request that set it (auth.py)
        self.hash = binascii.hexlify(hashlib.sha256(record).digest()).decode()
        # The enabled channels, worked out once from the mask words (long ints on a 32-bit
        # MCU: every shift of one allocates), as flags by channel_mask.nearest's index,
        # which the transmit gate reads per frame: one block, however many are enabled.
        self._on = bytearray(91)
        for page, ch in self.allowed():
            self._on[64 + ch if page == 31 else ch] = 1

    def field(self, name):
        return self.values[NAMES.index(name)]

    def allowed(self):
        # every (page, channel) the masks enable, one at a time (no list: small heaps)
        for i in range(4):
            word = self.values[i]
            page = word >> 27
            for ch in channel_mask.channels(page):
                if word >> channel_mask.bit_of(page, ch) & 1:
                    yield page, ch

    def allows(self, page, ch):
        # (an index names its page: a channel of another page, or none, is not allowed)
        i = 64 + ch if page == 31 else ch
        return 0 <= i < 91 and channel_mask.page_of(i) == page and self._on[i] == 1

    def enables(self, freq_hz, tolerance_hz):
        # whether an enabled channel's centre is within tolerance of freq_hz (no heap)
        i = channel_mask.nearest(freq_hz, tolerance_hz)
        return i >= 0 and self._on[i] == 1

    def cap_ms(self, page):
        return self.caps[page - 28]

    def limited_ms(self):
        return threshold_ms(self.values[4])

    def critical_ms(self):
        return threshold_ms(self.values[5])
