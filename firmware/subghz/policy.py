# Firmware build policy for the GB Sub-GHz band (the March 2018 SEC decision): the 915 MHz
# band is masked in every CSP region. This is a build option, deliberately not a command
# or a configuration value: lifting it means building different firmware.
# A carrier is refused when any part of its occupied band (centre +/- HALF_BW_HZ, about
# 100 kHz for 100 kbps GFSK) touches a masked band.
# The band edges are const() names with a leading underscore: compiled (frozen or .mpy)
# they are literals inside masked(), not module variables that code on the board could
# change at run time. MASKED_BANDS below is a copy for reports and tests only.
from micropython import const

MASK_915 = const(1)
_LO_HZ = const(915000000)
_HI_HZ = const(921000000)
_HALF_BW_HZ = const(100000)
HALF_BW_HZ = _HALF_BW_HZ
MASKED_BANDS = ((_LO_HZ, _HI_HZ),) if MASK_915 else ()


def masked(freq_hz):
    return MASK_915 and freq_hz + _HALF_BW_HZ > _LO_HZ and freq_hz - _HALF_BW_HZ < _HI_HZ
