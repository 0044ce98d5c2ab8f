// The agent's CBOR encoder in C (`_cborenc.encode`), built into the NUCLEO-WL55 image and
// its QEMU twin: on the board's CPU the frozen Python encoder took 14 ms of a status's
// 20 (docs/performance.md). It writes exactly the bytes firmware/dbchagent/cbor.py's
// encoder writes (the twin's tests compare both on the same values); cbor.encode uses this
// one where the image has it and its own everywhere else. The format, the words and the
// digests are cbor.py's: read its comments first.
#include <string.h>

#include "py/objarray.h"
#include "py/objint.h"
#include "py/objstr.h"
#include "py/runtime.h"

#define MAX_DEPTH (8)  // cbor.py's _MAX_DEPTH

// Appends n bytes to a bytearray, taking room when it has none (the agent's reply buffer
// has its room from the start).
static void put(mp_obj_array_t *out, const byte *p, size_t n) {
    if (out->free < n) {
        size_t room = out->len + n + 16;
        out->items = m_renew(byte, out->items, out->len + out->free, room);
        out->free = room - out->len;
    }
    memcpy((byte *)out->items + out->len, p, n);
    out->len += n;
    out->free -= n;
}

static void put1(mp_obj_array_t *out, byte b) {
    put(out, &b, 1);
}

static void head(mp_obj_array_t *out, unsigned major, uint64_t n) {
    byte b[9];
    size_t k = 1;
    b[0] = major << 5;
    if (n < 24) {
        b[0] |= n;
    } else {
        unsigned w = n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x100000000ULL ? 4 : 8;
        b[0] |= w == 1 ? 24 : w == 2 ? 25 : w == 4 ? 26 : 27;
        for (unsigned i = w; i > 0; --i) {
            b[k++] = n >> (8 * (i - 1));
        }
    }
    put(out, b, k);
}

static void too_deep(size_t depth) {
    if (depth >= MAX_DEPTH) {
        mp_raise_ValueError(MP_ERROR_TEXT("nested too deep"));
    }
}

// An int beyond a small int: its magnitude in 8 bytes, or "int out of range" as cbor.py.
static void big_int(mp_obj_array_t *out, mp_obj_t obj) {
    unsigned major = 0;
    if (mp_obj_int_sign(obj) < 0) {
        major = 1;
        obj = mp_binary_op(MP_BINARY_OP_SUBTRACT, MP_OBJ_NEW_SMALL_INT(-1), obj);
    }
    byte b[8];
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        mp_obj_int_to_bytes(obj, 8, b, true, false, true);
        nlr_pop();
    } else {
        mp_raise_ValueError(MP_ERROR_TEXT("int out of range"));
    }
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) {
        n = (n << 8) | b[i];
    }
    head(out, major, n);
}

static int hex_digit(byte c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// A SHA-256 in lowercase hex as its 32 bytes behind tag 23 (cbor.py's _digest).
static bool digest(mp_obj_array_t *out, const byte *s) {
    byte b[3 + 32] = {0xD7, 0x58, 32};
    for (int i = 0; i < 64; ++i) {
        int d = hex_digit(s[i]);
        if (d < 0) {
            return false;
        }
        b[3 + i / 2] = (b[3 + i / 2] << 4) | d;
    }
    put(out, b, sizeof(b));
    return true;
}

// A word (the link's simple value for a text), if `words` has one for obj.
static bool word(mp_obj_array_t *out, mp_map_t *words, mp_obj_t obj) {
    if (words == NULL) {
        return false;
    }
    mp_map_elem_t *e = mp_map_lookup(words, obj, MP_MAP_LOOKUP);
    if (e == NULL || e->value == mp_const_none) {
        return false;
    }
    mp_int_t c = mp_obj_get_int(e->value);
    if (c < 24) {
        put1(out, 0xE0 | c);
    } else {
        byte b[2] = {0xF8, c};
        put(out, b, 2);
    }
    return true;
}

static void enc(mp_obj_array_t *out, mp_obj_t obj, size_t depth, mp_map_t *words) {
    if (mp_obj_is_str(obj)) {
        if (words != NULL && word(out, words, obj)) {
            return;
        }
        GET_STR_DATA_LEN(obj, s, n);
        if (words != NULL && n == 64 && digest(out, s)) {
            return;
        }
        head(out, 3, n);
        put(out, s, n);
    } else if (mp_obj_is_small_int(obj)) {
        mp_int_t v = MP_OBJ_SMALL_INT_VALUE(obj);
        if (v >= 0) {
            head(out, 0, v);
        } else {
            head(out, 1, (uint64_t)(-1 - v));
        }
    } else if (mp_obj_is_exact_type(obj, &mp_type_dict)) {
        too_deep(depth);
        mp_map_t *map = mp_obj_dict_get_map(obj);
        head(out, 5, map->used);
        for (size_t i = 0; i < map->alloc; ++i) {
            if (mp_map_slot_is_filled(map, i)) {
                mp_obj_t k = map->table[i].key;
                if (!word(out, words, k)) {
                    enc(out, k, depth + 1, words);
                }
                enc(out, map->table[i].value, depth + 1, words);
            }
        }
    } else if (obj == mp_const_none) {
        put1(out, 0xF6);
    } else if (obj == mp_const_true) {
        put1(out, 0xF5);
    } else if (obj == mp_const_false) {
        put1(out, 0xF4);
    } else if (mp_obj_is_exact_type(obj, &mp_type_list) ||
               mp_obj_is_exact_type(obj, &mp_type_tuple)) {
        too_deep(depth);
        size_t n;
        mp_obj_t *items;
        mp_obj_get_array(obj, &n, &items);
        head(out, 4, n);
        for (size_t i = 0; i < n; ++i) {
            enc(out, items[i], depth + 1, words);
        }
    } else if (mp_obj_is_exact_type(obj, &mp_type_int)) {
        big_int(out, obj);
    } else if (mp_obj_is_exact_type(obj, &mp_type_bytes) ||
               mp_obj_is_exact_type(obj, &mp_type_bytearray) ||
               mp_obj_is_exact_type(obj, &mp_type_memoryview)) {
        mp_buffer_info_t buf;
        mp_get_buffer_raise(obj, &buf, MP_BUFFER_READ);
        head(out, 2, buf.len);
        put(out, buf.buf, buf.len);
    } else {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("cannot encode %s"),
            mp_obj_get_type_str(obj));
    }
}

// encode(out, obj, words): appends obj's CBOR to the bytearray out; words: the link's
// (text -> simple value) or None. A value it cannot encode raises ValueError with
// cbor.py's message (cbor.encode raises it as CBORError).
static mp_obj_t cborenc_encode(mp_obj_t out_in, mp_obj_t obj, mp_obj_t words_in) {
    if (!mp_obj_is_exact_type(out_in, &mp_type_bytearray)) {
        mp_raise_TypeError(MP_ERROR_TEXT("out must be a bytearray"));
    }
    mp_map_t *words = NULL;
    if (words_in != mp_const_none) {
        if (!mp_obj_is_exact_type(words_in, &mp_type_dict)) {
            mp_raise_TypeError(MP_ERROR_TEXT("words must be a dict"));
        }
        words = mp_obj_dict_get_map(words_in);
    }
    enc(MP_OBJ_TO_PTR(out_in), obj, 0, words);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_3(cborenc_encode_obj, cborenc_encode);

static const mp_rom_map_elem_t cborenc_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__cborenc) },
    { MP_ROM_QSTR(MP_QSTR_encode), MP_ROM_PTR(&cborenc_encode_obj) },
};
static MP_DEFINE_CONST_DICT(cborenc_globals, cborenc_globals_table);

const mp_obj_module_t cborenc_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&cborenc_globals,
};

MP_REGISTER_MODULE(MP_QSTR__cborenc, cborenc_module);
