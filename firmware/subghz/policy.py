# Firmware build policy for the GB Sub-GHz band (the March 2018 SEC decision): the 915 MHz
# band is masked in every CSP region. This is a build option, deliberately not a command
# or a configuration value: lifting it means building different firmware.
# A carrier is refused when any part of its occupied band (centre +/- HALF_BW_HZ, about
# 100 kHz for 100 kbps GFSK) touches a masked band.
MASK_915 = True
MASKED_BANDS = ((915000000, 921000000),) if MASK_915 else ()
HALF_BW_HZ = 100000


def masked(freq_hz):
    for lo, hi in MASKED_BANDS:
        if freq_hz + HALF_BW_HZ > lo and freq_hz - HALF_BW_HZ < hi:
            return True
    return False
