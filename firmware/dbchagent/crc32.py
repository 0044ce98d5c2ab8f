# CRC-32 (IEEE 802.3, as zlib.crc32 and binascii.crc32) for ports whose binascii lacks
# crc32. Nibble table: 16 words of RAM instead of 256, at the cost of two steps per byte.
_T = (
    0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4, 0x4DB26158,
    0x5005713C, 0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C, 0x9B64C2B0, 0x86D3D2D4,
    0xA00AE278, 0xBDBDF21C,
)


def crc32(data, crc=0):
    crc ^= 0xFFFFFFFF
    t = _T
    for b in data:
        crc ^= b
        crc = (crc >> 4) ^ t[crc & 15]
        crc = (crc >> 4) ^ t[crc & 15]
    return crc ^ 0xFFFFFFFF
