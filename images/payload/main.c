/*
 * The guest-driven tier's payload: a bare-metal aarch64 program that L2 runs as
 * its firmware (-bios) under KVM.  It plays a step script that the harness hands
 * to L2 as the fw_cfg file "opt/smmuv3/steps" and reports every step on the
 * PL011 (one line per step), which L2 writes to a chardev file:
 *
 *     G begin steps=N
 *     G <i> <op> ok key=value ...        (or "G <i> <op> fail why=...")
 *     G end
 *     G fault kind=K esr=0x.. elr=0x.. far=0x.. step=I   (synchronous exception)
 *
 * Before step i it writes 0x5e900000|i to the SMMU's IMPLEMENTATION DEFINED
 * offset 0xe00 (write-ignored by QEMU), so that the smmuv3_write_mmio trace
 * marks where each step's trace events start.
 *
 * Script (little-endian): u32 magic "SMG1", u32 step count, u64 SMMU base, then
 * per step: u32 op, u32 nargs, u64 args[nargs].  The ops are the enum below;
 * conformance/guest/script.py is the other half of this format.
 *
 * The MMU stays off (memory accesses are Device-nGnRnE: -mstrict-align, no
 * unaligned accesses); that is coherent with QEMU's view of guest RAM on the
 * nested tier (L0 is TCG).  A native-KVM host would need an identity map with
 * Normal memory (not done).
 */
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define UART        0x09000000UL
#define FW_CFG      0x09020000UL
#define ECAM        0x4010000000UL  /* virt highmem ECAM, 256 buses */
#define SCRIPT_BUF  0x40200000UL
#define ACPI_BUF    0x40400000UL
#define L2_POOL     0x40800000UL
#define MARKER_OFF  0xe00
#define SPIN_LIMIT  2000000  /* fw_cfg DMA: polls RAM only */
#define WAIT_MS     200      /* how long a step waits for the SMMU or the device */

enum op {
    OP_PCI_FIND = 1, OP_PCI_CMD = 2, OP_PCI_BAR = 3, OP_MSI = 4,
    OP_W32 = 5, OP_W64 = 6, OP_R32 = 7, OP_R64 = 8,
    OP_STRTAB = 9, OP_CMDQ = 10, OP_EVTQ = 11, OP_CR0 = 12, OP_GBPA = 13,
    OP_STE = 14, OP_CMD = 15, OP_EVT_READ = 16, OP_ACPI = 17, OP_DELAY = 18,
    OP_MSIX = 19, OP_ZERO = 20, OP_BLOCK = 21, OP_MAP = 22, OP_DMA = 23,
    OP_IRQ = 24,
};

static const char *const op_names[] = {
    "?", "pci_find", "pci_cmd", "pci_bar", "msi", "write32", "write64", "read32",
    "read64", "strtab", "cmdq", "evtq", "cr0", "gbpa", "ste", "cmd", "evt_read",
    "acpi", "delay", "msix", "zero", "block", "map", "dma", "irq",
};

static u64 smmu;          /* SMMU register base */
static u64 dev_cfg;       /* ECAM address of the found device (0: none) */
static u64 strtab_base, strtab_fmt, strtab_split, strtab_log2;
static u64 l2_next;       /* bump allocator for level-2 stream tables */
static u64 cmdq_base, cmdq_log2, cmdq_prod;
static u64 evtq_base, evtq_log2;
static u32 cur_step;
/* the S1 page tables being built: each TTB and its next free table page */
#define MAX_TTBS 8
static u64 pt_ttb[MAX_TTBS], pt_next[MAX_TTBS];
static u32 pt_count;

/* ------------------------------------------------------------------ MMIO */
static inline void w8(u64 a, u8 v) { *(volatile u8 *)a = v; }
static inline void w16(u64 a, u16 v) { *(volatile u16 *)a = v; }
static inline void w32(u64 a, u32 v) { *(volatile u32 *)a = v; }
static inline void w64(u64 a, u64 v) { *(volatile u64 *)a = v; }
static inline u8 r8(u64 a) { return *(volatile u8 *)a; }
static inline u16 r16(u64 a) { return *(volatile u16 *)a; }
static inline u32 r32(u64 a) { return *(volatile u32 *)a; }
static inline u64 r64(u64 a) { return *(volatile u64 *)a; }
static inline void barrier(void) { __asm__ volatile("dsb sy" ::: "memory"); }

/* the generic timer's virtual count (EL1 may read it whatever CNTKCTL_EL1 says) */
static inline u64 cntvct(void)
{
    u64 v;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v) :: "memory");
    return v;
}

static inline u64 cntfrq(void)
{
    u64 v;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
    return v;
}

static void wait_ticks(u64 n)
{
    for (u64 t0 = cntvct(); cntvct() - t0 < n;) {
    }
}

/* Poll a register until (value & mask) == want, for up to WAIT_MS: 1 if it got there.
 * Bounded by time, not by a count: one MMIO read costs nanoseconds under TCG but tens
 * of microseconds on the nested tier (a trap through two hypervisors). */
static int wait_for(u64 reg, u32 mask, u32 want)
{
    for (u64 t0 = cntvct(), limit = cntfrq() / 1000 * WAIT_MS; cntvct() - t0 < limit;) {
        if ((r32(reg) & mask) == want) {
            return 1;
        }
    }
    return (r32(reg) & mask) == want;
}

/* ------------------------------------------------------------------ output */
/*
 * Every UART access is a trap to L2's QEMU (expensive on the nested tier), so TXFF is
 * polled once per line, not per character: QEMU's PL011 drains its FIFO into a file
 * chardev synchronously, so the FIFO never fills in between.
 */
static void putc_(char c)
{
    if (c == 'G') {
        while (r32(UART + 0x18) & (1 << 5)) {
        }
    }
    w32(UART, (u32)c);
}

static void puts_(const char *s)
{
    while (*s) {
        putc_(*s++);
    }
}

static void puthex(u64 v)
{
    char buf[19];
    int i = 18;
    buf[i] = 0;
    do {
        buf[--i] = "0123456789abcdef"[v & 0xf];
        v >>= 4;
    } while (v);
    buf[--i] = 'x';
    buf[--i] = '0';
    puts_(&buf[i]);
}

static void putdec(u64 v)
{
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    puts_(&buf[i]);
}

static void kv(const char *k, u64 v)
{
    putc_(' ');
    puts_(k);
    putc_('=');
    puthex(v);
}

static void head(u32 i, u32 op, const char *status)
{
    puts_("G ");
    putdec(i);
    putc_(' ');
    puts_(op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op] : "?");
    putc_(' ');
    puts_(status);
}

void on_exception(u64 kind, u64 esr, u64 elr, u64 far)
{
    puts_("G fault");
    kv("kind", kind);
    kv("esr", esr);
    kv("elr", elr);
    kv("far", far);
    puts_(" step=");
    putdec(cur_step);
    puts_("\n");
    for (;;) {
        __asm__ volatile("wfi");
    }
}

static void zero(u64 a, u64 len)
{
    for (u64 o = 0; o + 8 <= len; o += 8) {
        w64(a + o, 0);
    }
}

/* ------------------------------------------------------------------ fw_cfg */
static u64 bswap64(u64 v) { return __builtin_bswap64(v); }
static u32 bswap32(u32 v) { return __builtin_bswap32(v); }

struct fw_cfg_dma { u32 control, length; u64 address; };
static struct fw_cfg_dma dma_desc __attribute__((aligned(16)));

static int fw_cfg_read(u16 select, u64 dst, u32 len)
{
    dma_desc.control = bswap32(((u32)select << 16) | 0x08 | 0x02);
    dma_desc.length = bswap32(len);
    dma_desc.address = bswap64(dst);
    barrier();
    w64(FW_CFG + 0x10, bswap64((u64)(uintptr_t)&dma_desc));
    barrier();
    for (int i = 0; i < SPIN_LIMIT; i++) {
        u32 c = bswap32(*(volatile u32 *)&dma_desc.control);
        if (c == 0) {
            return 0;
        }
        if (c & 1) {
            return -1;
        }
    }
    return -2;
}

/* Find a fw_cfg file by name: returns its selector, *size its size (0: absent). */
static u16 fw_cfg_find(const char *name, u32 *size)
{
    w16(FW_CFG + 8, bswap32(0x19) >> 16);  /* selector is big-endian */
    u32 count = 0;
    for (int b = 0; b < 4; b++) {
        count = (count << 8) | r8(FW_CFG);
    }
    for (u32 n = 0; n < count; n++) {
        u8 e[64];
        for (int b = 0; b < 64; b++) {
            e[b] = r8(FW_CFG);
        }
        int match = 1;
        for (int c = 0; c < 56; c++) {
            if (e[8 + c] != (u8)name[c]) {
                match = 0;
                break;
            }
            if (!name[c]) {
                break;
            }
        }
        if (match) {
            *size = ((u32)e[0] << 24) | ((u32)e[1] << 16) | ((u32)e[2] << 8) | e[3];
            return (u16)(((u16)e[4] << 8) | e[5]);
        }
    }
    *size = 0;
    return 0;
}

/* ------------------------------------------------------------------ PCI */
static u32 cfg_r32(u64 off) { return r32(dev_cfg + off); }

static u64 pci_cap(u8 id)
{
    if (!(r16(dev_cfg + 6) & 0x10)) {
        return 0;
    }
    u8 p = r8(dev_cfg + 0x34) & 0xfc;
    for (int guard = 0; p && guard < 48; guard++) {
        if (r8(dev_cfg + p) == id) {
            return p;
        }
        p = r8(dev_cfg + p + 1) & 0xfc;
    }
    return 0;
}

static void op_pci_find(u32 i, const u64 *a)
{
    for (u64 bus = 0; bus < 4; bus++) {
        for (u64 dev = 0; dev < 32; dev++) {
            u64 cfg = ECAM + (bus << 20) + (dev << 15);
            u32 id = r32(cfg);
            if ((id & 0xffff) == a[0] && (id >> 16) == a[1]) {
                dev_cfg = cfg;
                head(i, OP_PCI_FIND, "ok");
                kv("sid", (bus << 8) | (dev << 3));
                kv("id", id);
                puts_("\n");
                return;
            }
        }
    }
    head(i, OP_PCI_FIND, "fail why=not-found\n");
}

static int need_dev(u32 i, u32 op)
{
    if (dev_cfg) {
        return 1;
    }
    head(i, op, "fail why=no-device\n");
    return 0;
}

static void op_msi(u32 i, const u64 *a)
{
    u64 cap = pci_cap(0x05);
    if (!cap) {
        head(i, OP_MSI, "fail why=no-msi-cap\n");
        return;
    }
    u16 ctrl = r16(dev_cfg + cap + 2);
    w32(dev_cfg + cap + 4, (u32)a[0]);
    if (ctrl & 0x80) {                      /* 64-bit address */
        w32(dev_cfg + cap + 8, (u32)(a[0] >> 32));
        w16(dev_cfg + cap + 12, (u16)a[1]);
    } else {
        w16(dev_cfg + cap + 8, (u16)a[1]);
    }
    ctrl &= (u16)~0x70;                     /* one vector */
    ctrl = a[2] ? (ctrl | 1) : (ctrl & (u16)~1);
    w16(dev_cfg + cap + 2, ctrl);
    head(i, OP_MSI, "ok");
    kv("enabled", r16(dev_cfg + cap + 2) & 1);
    puts_("\n");
}

static void op_msix(u32 i, const u64 *a)
{
    /* a[0] doorbell, a[1] data, a[2] enable, a[3] BAR address for the table */
    u64 cap = pci_cap(0x11);
    if (!cap) {
        head(i, OP_MSIX, "fail why=no-msix-cap\n");
        return;
    }
    u32 tbl = cfg_r32(cap + 4);
    u32 bir = tbl & 7;
    u64 bar = dev_cfg + 0x10 + 4 * bir;
    w32(bar, (u32)a[3]);
    if ((r32(bar) & 0x6) == 0x4) {
        w32(bar + 4, (u32)(a[3] >> 32));
    }
    w16(dev_cfg + 4, r16(dev_cfg + 4) | 0x2);
    u64 entry = a[3] + (tbl & ~7u);
    w16(dev_cfg + cap + 2, 0xc000);         /* enable + function mask */
    w32(entry + 0, (u32)a[0]);
    w32(entry + 4, (u32)(a[0] >> 32));
    w32(entry + 8, (u32)a[1]);
    w32(entry + 12, 0);                     /* vector unmasked */
    w16(dev_cfg + cap + 2, a[2] ? 0x8000 : 0);
    head(i, OP_MSIX, "ok");
    kv("enabled", (r16(dev_cfg + cap + 2) >> 15) & 1);
    puts_("\n");
}

/* ------------------------------------------------------------------ SMMU */
#define CR0       0x20
#define CR0ACK    0x24
#define GBPA      0x44
#define GERROR    0x60
#define GERRORN   0x64
#define STRTAB_BASE      0x80
#define STRTAB_BASE_CFG  0x88
#define CMDQ_BASE 0x90
#define CMDQ_PROD 0x98
#define CMDQ_CONS 0x9c
#define EVTQ_BASE 0xa0
#define EVTQ_PROD 0x100a8
#define EVTQ_CONS 0x100ac

static void op_strtab(u32 i, const u64 *a)
{
    /* a[0] base, a[1] log2size, a[2] fmt (0 linear, 1 2-level), a[3] split */
    strtab_base = a[0];
    strtab_log2 = a[1];
    strtab_fmt = a[2];
    strtab_split = a[3];
    l2_next = L2_POOL;
    if (strtab_fmt) {
        zero(strtab_base, 8ULL << (strtab_log2 - strtab_split));
    } else {
        zero(strtab_base, 64ULL << strtab_log2);
    }
    barrier();
    w64(smmu + STRTAB_BASE, strtab_base);
    w32(smmu + STRTAB_BASE_CFG,
        (u32)((strtab_fmt << 16) | (strtab_split << 6) | strtab_log2));
    head(i, OP_STRTAB, "ok");
    kv("cfg", r32(smmu + STRTAB_BASE_CFG));
    puts_("\n");
}

static void op_queue(u32 i, u32 op, const u64 *a)
{
    zero(a[0], 16ULL << a[1] << (op == OP_EVTQ ? 1 : 0));
    barrier();
    if (op == OP_CMDQ) {
        cmdq_base = a[0];
        cmdq_log2 = a[1];
        cmdq_prod = 0;
        w64(smmu + CMDQ_BASE, a[0] | a[1]);
        w32(smmu + CMDQ_PROD, 0);
        w32(smmu + CMDQ_CONS, 0);
    } else {
        evtq_base = a[0];
        evtq_log2 = a[1];
        w64(smmu + EVTQ_BASE, a[0] | a[1]);
        w32(smmu + EVTQ_PROD, 0);
        w32(smmu + EVTQ_CONS, 0);
    }
    head(i, op, "ok\n");
}

static void op_cr0(u32 i, const u64 *a)
{
    w32(smmu + CR0, (u32)a[0]);
    int acked = wait_for(smmu + CR0ACK, 0xffffffffu, (u32)a[0]);
    head(i, OP_CR0, acked ? "ok" : "fail why=cr0ack");
    kv("cr0ack", r32(smmu + CR0ACK));
    puts_("\n");
}

static void op_gbpa(u32 i, const u64 *a)
{
    w32(smmu + GBPA, (u32)a[0] | (1u << 31));
    int done = wait_for(smmu + GBPA, 1u << 31, 0);
    head(i, OP_GBPA, done ? "ok" : "fail why=update");
    kv("gbpa", r32(smmu + GBPA));
    puts_("\n");
}

static u64 ste_addr(u64 sid)
{
    if (!strtab_fmt) {
        return strtab_base + 64 * sid;
    }
    u64 l1 = strtab_base + 8 * (sid >> strtab_split);
    u64 desc = r64(l1);
    if (!(desc & 0x1f)) {
        u64 size = 64ULL << strtab_split;
        u64 t = (l2_next + size - 1) & ~(size - 1);
        l2_next = t + size;
        zero(t, size);
        barrier();
        w64(l1, t | (strtab_split + 1));
        desc = t | (strtab_split + 1);
    }
    return (desc & ~0x3fULL) + 64 * (sid & ((1ULL << strtab_split) - 1));
}

static void op_ste(u32 i, const u64 *a)
{
    u64 p = ste_addr(a[0]);
    for (int w = 7; w >= 0; w--) {           /* word 0 (V, Config) last */
        w64(p + 8 * (u64)w, a[1 + w]);
    }
    barrier();
    head(i, OP_STE, "ok");
    kv("addr", p);
    puts_("\n");
}

static void op_cmd(u32 i, const u64 *a)
{
    if (!(r32(smmu + CR0ACK) & 0x8)) {       /* CMDQEN off: QEMU consumes nothing */
        head(i, OP_CMD, "fail why=cmdq-disabled\n");
        return;
    }
    u64 mask = (1ULL << cmdq_log2) - 1;
    u64 slot = cmdq_base + 16 * (cmdq_prod & mask);
    w64(slot, a[0]);
    w64(slot + 8, a[1]);
    barrier();
    cmdq_prod = (cmdq_prod + 1) & ((mask << 1) | 1);
    w32(smmu + CMDQ_PROD, (u32)cmdq_prod);
    u32 cons = 0, err = 0;
    int consumed = 0;
    for (u64 t0 = cntvct(), limit = cntfrq() / 1000 * WAIT_MS; cntvct() - t0 < limit;) {
        cons = r32(smmu + CMDQ_CONS);
        err = (cons >> 24) & 0x7f;
        if (err || (cons & ((mask << 1) | 1)) == cmdq_prod) {
            consumed = 1;
            break;
        }
    }
    u32 gerror = r32(smmu + GERROR);
    head(i, OP_CMD, consumed ? "ok" : "fail why=timeout");
    kv("err", err);
    kv("gerror", gerror ^ r32(smmu + GERRORN));
    puts_("\n");
    if (err) {
        /* skip the faulting command and acknowledge, so later steps run */
        w32(smmu + CMDQ_CONS, (u32)cmdq_prod);
        w32(smmu + GERRORN, gerror);
    }
}

static void op_evt_read(u32 i)
{
    u32 prod = r32(smmu + EVTQ_PROD), cons = r32(smmu + EVTQ_CONS);
    u64 mask = (1ULL << evtq_log2) - 1, wrap = (mask << 1) | 1;
    u32 n = (u32)(((prod & wrap) - (cons & wrap)) & wrap);
    head(i, OP_EVT_READ, "ok");
    kv("count", n);
    if (n) {
        u64 rec = evtq_base + 32 * (cons & mask);
        u64 w0 = r64(rec);
        kv("type", w0 & 0xff);
        kv("sid", w0 >> 32);
        w32(smmu + EVTQ_CONS, prod);
    }
    puts_("\n");
}

/* ------------------------------------------------------------------ S1 tables */
/*
 * op_map: one 4K page in an AArch64 stage-1 table for the CD's TTB0 (4K granule,
 * T0SZ 25: a 39-bit IOVA, walk from level 1).  Tables are taken from the pages that
 * follow the TTB page; the TTB page is zeroed at its first use only (up to 8 TTBs), so
 * a scenario may build several tables and go back to one.  a[0] TTB, a[1] IOVA,
 * a[2] output address, a[3] 1 = map, 0 = make the leaf invalid.
 */
static void op_map(u32 i, const u64 *a)
{
    u32 t = 0;
    while (t < pt_count && pt_ttb[t] != a[0]) {
        t++;
    }
    if (t == pt_count) {                     /* a TTB's first use: an empty level 1 */
        if (pt_count == MAX_TTBS) {
            head(i, OP_MAP, "fail why=too-many-ttbs\n");
            return;
        }
        pt_ttb[t] = a[0];
        pt_next[t] = a[0] + 0x1000;
        pt_count++;
        zero(a[0], 0x1000);
    }
    u64 table = a[0];
    for (int level = 1; level < 3; level++) {
        u64 slot = table + 8 * ((a[1] >> (39 - 9 * level)) & 0x1ff);
        u64 d = r64(slot);
        if ((d & 3) != 3) {
            zero(pt_next[t], 0x1000);
            d = pt_next[t] | 3;              /* table descriptor */
            pt_next[t] += 0x1000;
            w64(slot, d);
        }
        table = d & 0xfffffffff000ULL;
    }
    u64 leaf = table + 8 * ((a[1] >> 12) & 0x1ff);
    /* page descriptor: AF, inner shareable, AP = RW at any EL, AttrIndx 0 */
    w64(leaf, a[3] ? ((a[2] & 0xfffffffff000ULL) | (1 << 10) | (3 << 8) | (1 << 6) | 3) : 0);
    barrier();
    head(i, OP_MAP, "ok");
    kv("pte", leaf);
    puts_("\n");
}

/* ------------------------------------------------------------------ DMA */
/* BAR0 at mmio, memory decode and bus mastering on: what op_dma and op_irq need */
static void bar0_on(u64 mmio)
{
    w32(dev_cfg + 0x10, (u32)mmio);
    w16(dev_cfg + 4, r16(dev_cfg + 4) | 0x6);
}

/*
 * op_dma: the passed-through (or emulated) e1000e DMAs to a chosen IOVA.  Its transmit
 * ring is put at IOVA a[1] with one legacy descriptor (a 60-byte frame at IOVA
 * a[1] + 0x100, EOP | IFCS | RS).  The device reads the descriptor and the frame, sends
 * the frame, and writes the descriptor's status back (DD) at IOVA a[1] + 12: a DMA
 * write through whatever translation is installed.  The same ring (with a marker per
 * copy in the descriptor's "special" field) is written at every candidate guest
 * physical address a[3..]; the report names the one whose DD the device set:
 *
 *     G <i> dma ok landed=<GPA | 0x0 for none> wb=<status dword> tdh=<TDH> tpt=<TPT>
 *
 * a[0] is the address BAR0 gets (memory decode and bus master are switched on), a[2]
 * the number of candidates.
 */
#define E1K_TCTL  0x400
#define E1K_TDBAL 0x3800
#define E1K_TDBAH 0x3804
#define E1K_TDLEN 0x3808
#define E1K_TDH   0x3810
#define E1K_TDT   0x3818
#define E1K_TPT   0x40d4

static void op_dma(u32 i, u32 n, const u64 *a)
{
    u64 mmio = a[0], iova = a[1], count = a[2];
    if (count == 0 || n < 3 + count) {
        head(i, OP_DMA, "fail why=no-candidates\n");
        return;
    }
    bar0_on(mmio);
    w32(mmio + E1K_TCTL, 0);
    for (u64 k = 0; k < count; k++) {
        u64 c = a[3 + k];
        zero(c, 0x200);
        w64(c, iova + 0x100);                           /* buffer address */
        w32(c + 8, 60 | (0x0bu << 24));                 /* length, EOP | IFCS | RS */
        w32(c + 12, (u32)(k + 1) << 16);                /* status 0, special = marker */
        w32(c + 0x100, 0xffffffff);                     /* broadcast, from 02:00:00:00:00:01 */
        w32(c + 0x104, 0x0002ffff);
        w32(c + 0x108, 0x01000000);
        w32(c + 0x10c, 0xb588);                         /* ethertype 0x88b5 (local) */
    }
    barrier();
    w32(mmio + E1K_TDBAL, (u32)iova);
    w32(mmio + E1K_TDBAH, (u32)(iova >> 32));
    w32(mmio + E1K_TDLEN, 128);
    w32(mmio + E1K_TDH, 0);
    w32(mmio + E1K_TDT, 0);
    (void)r32(mmio + E1K_TPT);                          /* clear on read */
    w32(mmio + E1K_TCTL, (1 << 1) | (1 << 3));          /* EN | PSP */
    w32(mmio + E1K_TDT, 1);
    u64 landed = 0;
    u32 wb = 0, tdh = 0;
    int rounds = 0;
    for (u64 t0 = cntvct(), limit = cntfrq() / 1000 * WAIT_MS;
         !landed && cntvct() - t0 < limit;) {
        tdh = r32(mmio + E1K_TDH);
        for (u64 k = 0; k < count; k++) {
            u32 st = r32(a[3 + k] + 12);
            if (st & 1) {
                landed = a[3 + k];
                wb = st;
                break;
            }
        }
        if (tdh == 1 && ++rounds > 64) {
            break;                                      /* consumed; nothing landed */
        }
    }
    u32 tpt = r32(mmio + E1K_TPT);
    w32(mmio + E1K_TCTL, 0);
    head(i, OP_DMA, "ok");
    kv("landed", landed);
    kv("wb", wb);
    kv("tdh", tdh);
    kv("tpt", tpt);
    puts_("\n");
}

/*
 * op_irq: the e1000e raises its interrupt (IMS and ICS bit 0, TXDW).  With MSI
 * enabled (an "msi" step) the device writes the MSI data to the doorbell address it
 * was given: a memory write through its address space if QEMU emulates the device (and
 * its SMMU translates it), a KVM route if it is passed through.  QEMU's e1000e throttles
 * interrupts (ITR is at least 500 x 256 ns, whatever the guest writes): an MSI less
 * than 128 us after the previous one waits for the throttling timer, which QEMU's main
 * loop runs.  So the step waits 1 ms by the generic timer before it raises the
 * interrupt, then polls the candidates (RAM only: a device access in the loop would
 * hold QEMU's big lock and starve that timer) for up to 20 ms.  The first dword of
 * every candidate address a[2..] is cleared first; the report names the one that
 * received a nonzero value:
 *
 *     G <i> irq ok landed=<address | 0x0 for none> val=<the dword>
 *
 * a[0] is the address BAR0 gets, a[1] the number of candidates.
 */
#define E1K_ICR 0xc0
#define E1K_ICS 0xc8
#define E1K_IMS 0xd0
#define E1K_IMC 0xd8
#define E1K_ITR 0xc4

static void op_irq(u32 i, u32 n, const u64 *a)
{
    u64 mmio = a[0], count = a[1];
    if (count == 0 || n < 2 + count) {
        head(i, OP_IRQ, "fail why=no-candidates\n");
        return;
    }
    bar0_on(mmio);
    for (u64 k = 0; k < count; k++) {
        w32(a[2 + k], 0);
    }
    barrier();
    w32(mmio + E1K_IMC, 0xffffffff);
    (void)r32(mmio + E1K_ICR);                          /* clear on read */
    w32(mmio + E1K_ITR, 0);         /* the least throttling QEMU allows (see above) */
    u64 tick = cntfrq() / 1000;     /* counter ticks per millisecond */
    wait_ticks(tick);               /* a previous MSI's throttling timer runs out */
    w32(mmio + E1K_IMS, 1);
    w32(mmio + E1K_ICS, 1);
    u64 landed = 0;
    u32 val = 0;
    for (u64 t0 = cntvct(); !landed && cntvct() - t0 < 20 * tick;) {
        for (u64 k = 0; k < count; k++) {
            u32 v = r32(a[2 + k]);
            if (v) {
                landed = a[2 + k];
                val = v;
                break;
            }
        }
    }
    w32(mmio + E1K_IMC, 0xffffffff);
    (void)r32(mmio + E1K_ICR);
    head(i, OP_IRQ, "ok");
    kv("landed", landed);
    kv("val", val);
    puts_("\n");
}

/* ------------------------------------------------------------------ ACPI */
static void op_acpi(u32 i, u32 n, const u64 *a)
{
    u32 size = 0;
    u16 sel = fw_cfg_find("etc/acpi/tables", &size);
    if (!sel || fw_cfg_read(sel, ACPI_BUF, size)) {
        head(i, OP_ACPI, "fail why=fw_cfg\n");
        return;
    }
    for (u64 off = 0; off + 36 <= size; off++) {
        u64 t = ACPI_BUF + off;
        if (r8(t) != (u8)a[0] || r8(t + 1) != (u8)(a[0] >> 8) ||
            r8(t + 2) != (u8)(a[0] >> 16) || r8(t + 3) != (u8)(a[0] >> 24)) {
            continue;
        }
        u32 len = r8(t + 4) | ((u32)r8(t + 5) << 8) | ((u32)r8(t + 6) << 16) |
                  ((u32)r8(t + 7) << 24);
        if (len < 36 || off + len > size) {
            continue;
        }
        /* no checksum test: in fw_cfg's blob the table loader has not set it yet */
        u32 from = 0;
        if (n >= 4 && a[1]) {                /* only a window from a byte pattern */
            for (from = 36; from + 16 <= len; from++) {
                u32 c = 0;
                while (c < 16 && r8(t + from + c) == (u8)(a[2 + c / 8] >> (8 * (c % 8)))) {
                    c++;
                }
                if (c == 16) {
                    break;
                }
            }
            len = from + a[1] < len ? from + (u32)a[1] : len;
        }
        for (u32 b = from; b < len; b += 32) {
            head(i, OP_ACPI, "data ");
            for (u32 c = b; c < b + 32 && c < len; c++) {
                u8 v = r8(t + c);
                putc_("0123456789abcdef"[v >> 4]);
                putc_("0123456789abcdef"[v & 15]);
            }
            puts_("\n");
        }
        head(i, OP_ACPI, "ok");
        kv("len", len);
        puts_("\n");
        return;
    }
    head(i, OP_ACPI, "fail why=no-table\n");
}

/* ------------------------------------------------------------------ main */
static const u32 nargs_min[] = {
    [OP_PCI_FIND] = 2, [OP_PCI_CMD] = 1, [OP_PCI_BAR] = 2, [OP_MSI] = 3, [OP_W32] = 2,
    [OP_W64] = 2, [OP_R32] = 1, [OP_R64] = 1, [OP_STRTAB] = 4, [OP_CMDQ] = 2,
    [OP_EVTQ] = 2, [OP_CR0] = 1, [OP_GBPA] = 1, [OP_STE] = 9, [OP_CMD] = 2,
    [OP_EVT_READ] = 0, [OP_ACPI] = 1, [OP_DELAY] = 1, [OP_MSIX] = 4, [OP_ZERO] = 2, [OP_BLOCK] = 1,
    [OP_MAP] = 4, [OP_DMA] = 4, [OP_IRQ] = 3,
};

static void step(u32 i, u32 op, u32 n, const u64 *a)
{
    if (op == 0 || op > OP_IRQ || n < nargs_min[op]) {
        head(i, op, "fail why=bad-step\n");
        return;
    }
    switch (op) {
    case OP_PCI_FIND: op_pci_find(i, a); break;
    case OP_PCI_CMD:
        if (need_dev(i, op)) {
            w16(dev_cfg + 4, (u16)a[0]);
            head(i, op, "ok");
            kv("cmd", r16(dev_cfg + 4));
            puts_("\n");
        }
        break;
    case OP_PCI_BAR:
        if (need_dev(i, op)) {
            w32(dev_cfg + 0x10 + 4 * a[0], (u32)a[1]);
            head(i, op, "ok");
            kv("bar", cfg_r32(0x10 + 4 * a[0]));
            puts_("\n");
        }
        break;
    case OP_MSI: if (need_dev(i, op)) { op_msi(i, a); } break;
    case OP_MSIX: if (need_dev(i, op)) { op_msix(i, a); } break;
    case OP_W32: w32(a[0], (u32)a[1]); head(i, op, "ok\n"); break;
    case OP_W64: w64(a[0], a[1]); head(i, op, "ok\n"); break;
    case OP_R32: head(i, op, "ok"); kv("val", r32(a[0])); puts_("\n"); break;
    case OP_R64: head(i, op, "ok"); kv("val", r64(a[0])); puts_("\n"); break;
    case OP_ZERO: zero(a[0], a[1]); head(i, op, "ok\n"); break;
    case OP_BLOCK:                           /* a[0] address, then doublewords */
        for (u32 k = n - 1; k >= 1; k--) {   /* the first doubleword last */
            w64(a[0] + 8 * (u64)(k - 1), a[k]);
        }
        barrier();
        head(i, op, "ok\n");
        break;
    case OP_STRTAB: op_strtab(i, a); break;
    case OP_CMDQ: case OP_EVTQ: op_queue(i, op, a); break;
    case OP_CR0: op_cr0(i, a); break;
    case OP_GBPA: op_gbpa(i, a); break;
    case OP_STE: op_ste(i, a); break;
    case OP_CMD: op_cmd(i, a); break;
    case OP_EVT_READ: op_evt_read(i); break;
    case OP_ACPI: op_acpi(i, n, a); break;
    case OP_MAP: op_map(i, a); break;
    case OP_DMA: if (need_dev(i, op)) { op_dma(i, n, a); } break;
    case OP_IRQ: if (need_dev(i, op)) { op_irq(i, n, a); } break;
    case OP_DELAY:
        for (volatile u64 d = 0; d < a[0]; d++) {
        }
        head(i, op, "ok\n");
        break;
    }
}

int main(void)
{
    w32(UART + 0x30, 0x301);                /* UARTEN | TXE | RXE */
    u32 size = 0;
    u16 sel = fw_cfg_find("opt/smmuv3/steps", &size);
    if (!sel || size < 16 || size > 0x100000 || fw_cfg_read(sel, SCRIPT_BUF, size)) {
        puts_("G error why=no-script\nG end\n");
        return 0;
    }
    const u32 *hdr = (const u32 *)SCRIPT_BUF;
    if (hdr[0] != 0x31474d53) {             /* "SMG1" */
        puts_("G error why=bad-magic\nG end\n");
        return 0;
    }
    u32 count = hdr[1];
    smmu = *(const u64 *)(SCRIPT_BUF + 8);
    puts_("G begin steps=");
    putdec(count);
    puts_("\n");
    u64 p = SCRIPT_BUF + 16, end = SCRIPT_BUF + size;
    for (u32 i = 0; i < count; i++) {
        if (p + 8 > end) {
            puts_("G error why=truncated\n");
            break;
        }
        u32 op = r32(p), n = r32(p + 4);
        const u64 *a = (const u64 *)(p + 8);
        p += 8 + 8ULL * n;
        if (p > end) {
            puts_("G error why=truncated\n");
            break;
        }
        cur_step = i;
        if (smmu) {
            w32(smmu + MARKER_OFF, 0x5e900000u | i);
        }
        step(i, op, n, a);
    }
    puts_("G end\n");
    return 0;
}
