// The QEMU twin's C module `_twin` (twins only, never a board image).
//
// - Semihosting file access for the board's flash: the flash image is a file on the host,
//   so it survives killing QEMU as flash survives a power cut.
// - The second UART (CMSDK UART1 at 0x40005000), QEMU's `-serial` to the supervisor: the
//   bridge to the chip model and the rest of the board (host_tools/dbch/sim/bridge.py).
// - The start-up hook (MICROPY_PORT_INIT_FUNC, twin.h): the frozen twin ROM `_twin_boot`
//   wires the board and mounts the flash, then boot.py and main.py run as on a board
//   (main.py only in the friendly REPL: a soft reset from the raw REPL skips it).
#include <string.h>
#include "py/runtime.h"
#include "py/mphal.h"
#include "py/mperrno.h"
#include "shared/runtime/interrupt_char.h"
#include "shared/runtime/pyexec.h"

#if DBCH_MAIN_PY_CTRL_C_OFF
int dbch_exec_main_py(void);
#endif

// --- semihosting (ARM, Thumb: BKPT 0xAB) --------------------------------------------------
#define SYS_OPEN (0x01)
#define SYS_CLOSE (0x02)
#define SYS_WRITE (0x05)
#define SYS_READ (0x06)
#define SYS_SEEK (0x0A)
#define SYS_FLEN (0x0C)
#define SYS_TIME (0x11)

static int sh_call(int op, void *arg) {
    register int r0 __asm__ ("r0") = op;
    register void *r1 __asm__ ("r1") = arg;
    __asm__ volatile ("bkpt 0xab" : "+r" (r0) : "r" (r1) : "memory");
    return r0;
}

// The flash image's file, opened "r+b"
static int sh_open(const char *path, size_t len) {
    uint32_t args[3] = { (uint32_t)path, 3 /* "r+b" */, len };
    int fd = sh_call(SYS_OPEN, args);
    if (fd < 0) {
        mp_raise_OSError(MP_EIO);
    }
    return fd;
}

// n bytes between buf and the file at pos: SYS_READ or SYS_WRITE (each returns the bytes
// it did not move)
static void sh_move(int op, int fd, mp_int_t pos, const void *buf, size_t n) {
    uint32_t seek[2] = { fd, pos };
    uint32_t args[3] = { fd, (uint32_t)buf, n };
    if (sh_call(SYS_SEEK, seek) != 0 || sh_call(op, args) != 0) {
        mp_raise_OSError(MP_EIO);
    }
}

// size bytes at pos set to all ones, as erased NOR flash reads; no heap (a board's flash
// driver takes none either)
static void sh_erase(int fd, mp_int_t pos, mp_int_t size) {
    static uint8_t ones[256];
    memset(ones, 0xff, sizeof(ones));
    for (; size > 0; pos += sizeof(ones), size -= sizeof(ones)) {
        sh_move(SYS_WRITE, fd, pos, ones, size < (mp_int_t)sizeof(ones) ? size : sizeof(ones));
    }
}

// Flash(path, block_size, blocks): the board's flash as littlefs's block device, in C as a
// board's flash driver is (the stm32 port's internal flash storage): a read or a write is
// one semihosting call, not Python calls on the twin's CPU (the Python one the unix twin
// uses, simmachine.FlashBlocks, took 75 ms of the board's clock to list a directory at
// 31.25 MIPS), and a pending Ctrl-C waits until littlefs has finished, as on a board.
typedef struct {
    mp_obj_base_t base;
    int fd;
    mp_int_t block_size;
    mp_int_t blocks;
} twin_flash_obj_t;

static const mp_obj_type_t twin_flash_type;

static mp_obj_t twin_flash_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 3, 3, false);
    size_t len;
    const char *path = mp_obj_str_get_data(args[0], &len);
    twin_flash_obj_t *self = mp_obj_malloc(twin_flash_obj_t, type);
    self->fd = sh_open(path, len);
    self->block_size = mp_obj_get_int(args[1]);
    self->blocks = mp_obj_get_int(args[2]);
    return MP_OBJ_FROM_PTR(self);
}

// readblocks(block, buf, offset=0) and writeblocks(block, buf, offset=0): littlefs's
// extended interface (the offset always given)
static mp_obj_t twin_flash_move(int op, size_t n_args, const mp_obj_t *args) {
    twin_flash_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    mp_buffer_info_t b;
    mp_get_buffer_raise(args[2], &b, op == SYS_READ ? MP_BUFFER_WRITE : MP_BUFFER_READ);
    mp_int_t off = n_args == 4 ? mp_obj_get_int(args[3]) : 0;
    sh_move(op, self->fd, mp_obj_get_int(args[1]) * self->block_size + off, b.buf, b.len);
    return mp_const_none;
}

static mp_obj_t twin_flash_readblocks(size_t n_args, const mp_obj_t *args) {
    return twin_flash_move(SYS_READ, n_args, args);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(twin_flash_readblocks_obj, 3, 4, twin_flash_readblocks);

static mp_obj_t twin_flash_writeblocks(size_t n_args, const mp_obj_t *args) {
    return twin_flash_move(SYS_WRITE, n_args, args);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(twin_flash_writeblocks_obj, 3, 4, twin_flash_writeblocks);

// ioctl(op, arg): 4 block count, 5 block size, 6 erase block `arg`; the rest (init,
// deinit, sync) have nothing to do
static mp_obj_t twin_flash_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    twin_flash_obj_t *self = MP_OBJ_TO_PTR(self_in);
    switch (mp_obj_get_int(op_in)) {
        case 4:
            return MP_OBJ_NEW_SMALL_INT(self->blocks);
        case 5:
            return MP_OBJ_NEW_SMALL_INT(self->block_size);
        case 6:
            sh_erase(self->fd, mp_obj_get_int(arg_in) * self->block_size, self->block_size);
            return MP_OBJ_NEW_SMALL_INT(0);
        default:
            return MP_OBJ_NEW_SMALL_INT(0);
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(twin_flash_ioctl_obj, twin_flash_ioctl);

static const mp_rom_map_elem_t twin_flash_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&twin_flash_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&twin_flash_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&twin_flash_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(twin_flash_locals, twin_flash_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    twin_flash_type,
    MP_QSTR_Flash,
    MP_TYPE_FLAG_NONE,
    make_new, twin_flash_make_new,
    locals_dict, &twin_flash_locals
    );

// The board's RTC: the host's wall clock (littlefs stamps files with it; time.time()).
uint64_t mp_hal_time_ns(void) {
    return (uint64_t)(uint32_t)sh_call(SYS_TIME, NULL) * 1000000000ULL;
}

// the host's wall clock, in seconds
static mp_obj_t twin_sh_time(void) {
    return mp_obj_new_int(sh_call(SYS_TIME, NULL));
}
static MP_DEFINE_CONST_FUN_OBJ_0(twin_sh_time_obj, twin_sh_time);

// --- UART1: the bridge ---------------------------------------------------------------------
typedef struct {
    volatile uint32_t DATA;
    volatile uint32_t STATE;
    volatile uint32_t CTRL;
} cmsdk_uart_t;
#define BRIDGE ((cmsdk_uart_t *)0x40005000)
#define STATE_TXFULL (1 << 0)
#define STATE_RXFULL (1 << 1)

static mp_obj_t twin_bridge_write(mp_obj_t buf_in) {
    mp_buffer_info_t b;
    mp_get_buffer_raise(buf_in, &b, MP_BUFFER_READ);
    BRIDGE->CTRL = 3;
    const uint8_t *p = b.buf;
    for (size_t i = 0; i < b.len; ++i) {
        while (BRIDGE->STATE & STATE_TXFULL) {
        }
        BRIDGE->DATA = p[i];
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(twin_bridge_write_obj, twin_bridge_write);

// readinto(buf, n=-1): blocks until n bytes (default: all of buf) are in (the supervisor
// always answers a read)
static mp_obj_t twin_bridge_readinto(mp_obj_t buf_in, mp_obj_t n_in) {
    mp_buffer_info_t b;
    mp_get_buffer_raise(buf_in, &b, MP_BUFFER_WRITE);
    mp_int_t n = mp_obj_get_int(n_in);
    if (n < 0 || (size_t)n > b.len) {
        n = b.len;
    }
    BRIDGE->CTRL = 3;
    uint8_t *p = b.buf;
    for (mp_int_t i = 0; i < n; ++i) {
        while (!(BRIDGE->STATE & STATE_RXFULL)) {
        }
        p[i] = BRIDGE->DATA;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(twin_bridge_readinto_obj, twin_bridge_readinto);

#if MICROPY_ENABLE_PYSTACK
// The Python stack's high-water mark: filled with a pattern when set up (dbch_twin_start),
// pystack_peak() -> (bytes ever used, bytes in all). What the board's stack must hold,
// measured on its twin (the bench reports it).
#define PYSTACK_UNUSED (0xA5A5A5A5)

static void twin_pystack_fill(void) {
    for (uint32_t *p = (uint32_t *)MP_STATE_THREAD(pystack_start);
         p < (uint32_t *)MP_STATE_THREAD(pystack_end); p++) {
        *p = PYSTACK_UNUSED;
    }
}

static mp_obj_t twin_pystack_peak(void) {
    uint32_t *start = (uint32_t *)MP_STATE_THREAD(pystack_start);
    uint32_t *p = (uint32_t *)MP_STATE_THREAD(pystack_end);
    while (p > start && p[-1] == PYSTACK_UNUSED) {
        p--;
    }
    mp_obj_t out[2] = {
        MP_OBJ_NEW_SMALL_INT((p - start) * 4),
        MP_OBJ_NEW_SMALL_INT(MP_STATE_THREAD(pystack_end) - MP_STATE_THREAD(pystack_start)),
    };
    return mp_obj_new_tuple(2, out);
}
static MP_DEFINE_CONST_FUN_OBJ_0(twin_pystack_peak_obj, twin_pystack_peak);
#endif

static const mp_rom_map_elem_t twin_globals_table[] = {
    #if MICROPY_ENABLE_PYSTACK
    { MP_ROM_QSTR(MP_QSTR_pystack_peak), MP_ROM_PTR(&twin_pystack_peak_obj) },
    #endif
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__twin) },
    { MP_ROM_QSTR(MP_QSTR_Flash), MP_ROM_PTR(&twin_flash_type) },
    { MP_ROM_QSTR(MP_QSTR_sh_time), MP_ROM_PTR(&twin_sh_time_obj) },
    { MP_ROM_QSTR(MP_QSTR_bridge_write), MP_ROM_PTR(&twin_bridge_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_bridge_readinto), MP_ROM_PTR(&twin_bridge_readinto_obj) },
};
static MP_DEFINE_CONST_DICT(twin_globals, twin_globals_table);

const mp_obj_module_t twin_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&twin_globals,
};
MP_REGISTER_MODULE(MP_QSTR__twin, twin_module);

// --- the console UART wakes the CPU ------------------------------------------------------
// A board's UART interrupts on every byte received, so a CPU idling in WFI (MicroPython's
// poll with a timeout) wakes at once. The qemu port reads UART0 by polling and its vector
// table has no external interrupts, so WFI would wait for the next SysTick (1 ms): a paced
// console would then deliver one byte a millisecond. The twin copies the vector table to
// RAM with a handler for UART0's receive interrupt (MPS2-AN385: IRQ 0, QEMU's mps2.c).
//
// The same interrupt is where a board sees Ctrl-C: the stm32 port's UART handler compares
// each byte with the interrupt character (micropython.kbd_intr) as it arrives and raises
// KeyboardInterrupt at once, whatever the CPU is doing (ports/stm32/uart.c). The qemu port
// never does, so a twin would hold where the board gives way. While the interrupt character
// is set, the handler here takes each byte: the interrupt character raises, any other goes
// to a small ring that the port's reads drain first (uart_rx_chr and uart_rx_any, wrapped
// at link time: micropython.mk). With it off, the byte stays in the UART for the port's own
// read, a character like any other, as on the board.
#define UART0_DATA (*(volatile uint32_t *)0x40004000)
#define UART0_STATE (*(volatile uint32_t *)0x40004004)
#define UART_STATE_RXFULL (1 << 1)
#define UART0_CTRL (*(volatile uint32_t *)0x40004008)
#define UART0_INTCLEAR (*(volatile uint32_t *)0x4000400C)
#define UART_CTRL_RX_INTEN (1 << 3)
#define UART_INT_RX (1 << 1)
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08)
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100)
#define TWIN_VECTORS (16 + 32)  // the core's 16, then the AN385's 32 external interrupts

static uint32_t twin_vectors[TWIN_VECTORS] __attribute__((aligned(256)));

static void twin_spurious_irq(void) {
    for (;;) {
    }
}

// 16 bytes more than the board's ring while the interrupt character is on: the supervisor
// models the board's receive ring on the bytes QEMU has not taken (console.py).
#define TWIN_RX_RING (16)
static volatile uint8_t twin_rx[TWIN_RX_RING];
static volatile uint32_t twin_rx_in, twin_rx_out;

static void twin_uart0_rx_irq(void) {
    UART0_INTCLEAR = UART_INT_RX;
    while (mp_interrupt_char >= 0 && (UART0_STATE & UART_STATE_RXFULL)
           && twin_rx_in - twin_rx_out < TWIN_RX_RING) {
        int c = UART0_DATA & 0xff;
        if (c == mp_interrupt_char) {
            mp_sched_keyboard_interrupt();
        } else {
            twin_rx[twin_rx_in++ % TWIN_RX_RING] = c;
        }
    }
}

int __real_uart_rx_chr(void);
int __real_uart_rx_any(void);

int __wrap_uart_rx_chr(void) {
    __asm__ volatile ("cpsid i" ::: "memory");  // the ring first, then the UART, in order
    int c = twin_rx_in != twin_rx_out ? twin_rx[twin_rx_out++ % TWIN_RX_RING]
                                      : __real_uart_rx_chr();
    __asm__ volatile ("cpsie i" ::: "memory");
    return c;
}

int __wrap_uart_rx_any(void) {
    return twin_rx_in != twin_rx_out || __real_uart_rx_any();
}

// --- the console UART's transmit waits as a board's does ------------------------------------
// A board's write to a full UART waits the wire's time, and its clock (ticks_us) counts that
// time: 26 ms for a 300-byte status line at 115200 baud. The qemu port spins on the UART's
// TXFULL flag, and under -icount the twin's clock then counts the spin's instructions, not
// the wire's time: that line read 10-12 ms of the twin's clock, varying with this machine's
// speed (measured). Here the CPU waits in WFI for the UART's transmit interrupt (raised as
// TXFULL clears; IRQ 1 on the AN385), as it waits for input, so the twin's clock follows
// the wire. Interrupts are masked around the test and the WFI (a pending one still wakes
// it) so the interrupt cannot slip in between; each wake lets pending ones run.
#define UART_STATE_TXFULL (1 << 0)
#define UART_CTRL_TX_INTEN (1 << 2)
#define UART_INT_TX (1 << 0)

static void twin_uart0_tx_irq(void) {
    UART0_INTCLEAR = UART_INT_TX;
}

void __wrap_uart_tx_strn(const char *buf, size_t len) {
    for (size_t i = 0; i < len; ++i) {
        if (UART0_STATE & UART_STATE_TXFULL) {
            __asm__ volatile ("cpsid i" ::: "memory");
            UART0_CTRL |= UART_CTRL_TX_INTEN;
            while (UART0_STATE & UART_STATE_TXFULL) {
                __asm__ volatile ("wfi\n cpsie i\n isb\n cpsid i" ::: "memory");
            }
            UART0_CTRL &= ~UART_CTRL_TX_INTEN;
            __asm__ volatile ("cpsie i" ::: "memory");
        }
        UART0_DATA = (uint8_t)buf[i];
    }
}

static void twin_console_wakes_on_rx(void) {
    const uint32_t *rom = (const uint32_t *)SCB_VTOR;
    for (int i = 0; i < TWIN_VECTORS; ++i) {
        twin_vectors[i] = i < 16 ? rom[i] : (uint32_t)twin_spurious_irq;
    }
    twin_vectors[16 + 0] = (uint32_t)twin_uart0_rx_irq;
    twin_vectors[16 + 1] = (uint32_t)twin_uart0_tx_irq;
    __asm__ volatile ("dsb");
    SCB_VTOR = (uint32_t)twin_vectors;
    __asm__ volatile ("dsb\n isb");
    UART0_CTRL |= UART_CTRL_RX_INTEN;
    NVIC_ISER0 = (1 << 0) | (1 << 1);
}

// --- start-up -------------------------------------------------------------------------------
void dbch_twin_start(void) {
    #if MICROPY_ENABLE_PYSTACK
    // The board image's Python stack (its main_py C module), as its boot hook sets it up:
    // mp_init runs this before any Python, after every reset
    dbch_pystack_init();
    twin_pystack_fill();
    #endif
    static bool woken = false;
    if (!woken) {  // once per power-up (the hook runs again after a soft reset)
        twin_console_wakes_on_rx();
        woken = true;
    }
    if (pyexec_frozen_module("_twin_boot.py", false) != 1) {
        return;  // the ROM failed (printed): the REPL follows, as a board with broken flash
    }
    pyexec_file_if_exists("boot.py");
    if (pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL) {
        #if DBCH_MAIN_PY_CTRL_C_OFF
        dbch_exec_main_py();  // the board image's own start (its main_py C module)
        #else
        pyexec_file_if_exists("main.py");  // a stock port's: Ctrl-C on for main.py
        #endif
    }
}
