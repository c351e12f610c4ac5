/*
 * smmu-hwinfo: print what the host SMMUv3 behind one VFIO device reports through
 * iommufd's IOMMU_GET_HW_INFO, the same call QEMU's accel SMMUv3 makes before it
 * compares the host with the vSMMU (smmuv3_accel_check_hw_compatible, catalogue 5a).
 *
 * Usage (in the nested tier's L1):  smmu-hwinfo /dev/vfio/devices/vfio0
 *
 * 1. open /dev/iommu and the VFIO cdev;
 * 2. VFIO_DEVICE_BIND_IOMMUFD (the device gets an iommufd dev_id; nothing is attached);
 * 3. IOMMU_GET_HW_INFO with the default type: the driver's own type and data
 *    (struct iommu_hw_info_arm_smmuv3: flags, idr[6], iidr, aidr), capabilities and
 *    max PASID width;
 * 4. IOMMU_GET_HW_INFO asking for IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV (input type flag):
 *    success means the host SMMU has a Tegra241 CMDQV; the errno is printed either way.
 *
 * Output: one "key=value" line per field, integers in hex except counts; on failure
 * "error=<step> errno=<n>" and exit status 1.  Closing the descriptors unbinds the
 * device, so the next L2 can use it.
 *
 * Freestanding on purpose: raw aarch64 system calls, no libc, static, so it needs no
 * arm64 libc headers or libraries on the build host (Debian's gcc-aarch64-linux-gnu
 * alone builds it) and nothing in the initramfs.  The uAPI layouts below are copied
 * from include/uapi/linux/{iommufd,vfio}.h (Linux 6.16+ field names).
 */

typedef unsigned int u32;
typedef unsigned char u8;
typedef unsigned long long u64;
typedef long s64;

#define SYS_ioctl 29
#define SYS_openat 56
#define SYS_close 57
#define SYS_write 64
#define SYS_exit_group 94
#define AT_FDCWD (-100)
#define O_RDWR 2

/* _IO(type, nr) = (type << 8) | nr: these ioctls carry their size in the struct */
#define IOMMUFD_TYPE ';'
#define IOMMU_GET_HW_INFO ((IOMMUFD_TYPE << 8) | 0x8a)           /* IOMMUFD_CMD_GET_HW_INFO */
#define VFIO_DEVICE_BIND_IOMMUFD ((IOMMUFD_TYPE << 8) | (100 + 18)) /* VFIO_BASE + 18 */
#define IOMMU_HW_INFO_FLAG_INPUT_TYPE 1u
#define IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV 3u

struct vfio_device_bind_iommufd {
    u32 argsz;
    u32 flags;
    int iommufd;
    u32 out_devid;
};

struct iommu_hw_info {
    u32 size;
    u32 flags;
    u32 dev_id;
    u32 data_len;
    u64 data_uptr;
    u32 data_type;           /* out_data_type, or in_data_type with the flag */
    u8 out_max_pasid_log2;
    u8 reserved[3];
    u64 out_capabilities;
};

struct iommu_hw_info_arm_smmuv3 {
    u32 flags;
    u32 reserved;
    u32 idr[6];
    u32 iidr;
    u32 aidr;
};

static s64 sys3(s64 n, s64 a, s64 b, s64 c)
{
    register s64 x8 __asm__("x8") = n;
    register s64 x0 __asm__("x0") = a;
    register s64 x1 __asm__("x1") = b;
    register s64 x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory", "cc");
    return x0;
}

static s64 sys4(s64 n, s64 a, s64 b, s64 c, s64 d)
{
    register s64 x8 __asm__("x8") = n;
    register s64 x0 __asm__("x0") = a;
    register s64 x1 __asm__("x1") = b;
    register s64 x2 __asm__("x2") = c;
    register s64 x3 __asm__("x3") = d;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
                     : "memory", "cc");
    return x0;
}

/* the compiler may emit calls to these for struct initialisation */
void *memset(void *d, int c, unsigned long n)
{
    volatile unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

static char out[1024];
static unsigned long used;

static void put(const char *s)
{
    while (*s && used < sizeof(out) - 1)
        out[used++] = *s++;
}

static void put_num(u64 v, int hex)
{
    char buf[24];
    int i = 0;
    const char *digits = "0123456789abcdef";
    unsigned base = hex ? 16 : 10;
    if (hex)
        put("0x");
    do {
        buf[i++] = digits[v % base];
        v /= base;
    } while (v);
    while (i--) {
        char c[2] = {buf[i], 0};
        put(c);
    }
}

static void field(const char *key, u64 v, int hex)
{
    put(key);
    put("=");
    put_num(v, hex);
    put("\n");
}

static void flush(void)
{
    unsigned long done = 0;
    while (done < used) {
        s64 r = sys3(SYS_write, 1, (s64)(out + done), (s64)(used - done));
        if (r <= 0)
            break;
        done += (unsigned long)r;
    }
    used = 0;
}

static void fail(const char *step, s64 err)
{
    put("error=");
    put(step);
    put(" errno=");
    put_num((u64)(-err), 0);
    put("\n");
    flush();
    sys3(SYS_exit_group, 1, 0, 0);
}

static int run(const char *cdev)
{
    s64 iommufd = sys4(SYS_openat, AT_FDCWD, (s64)"/dev/iommu", O_RDWR, 0);
    if (iommufd < 0)
        fail("open-/dev/iommu", iommufd);
    s64 devfd = sys4(SYS_openat, AT_FDCWD, (s64)cdev, O_RDWR, 0);
    if (devfd < 0)
        fail("open-vfio-cdev", devfd);

    struct vfio_device_bind_iommufd bind;
    memset(&bind, 0, sizeof(bind));
    bind.argsz = sizeof(bind);
    bind.iommufd = (int)iommufd;
    s64 r = sys3(SYS_ioctl, devfd, VFIO_DEVICE_BIND_IOMMUFD, (s64)&bind);
    if (r < 0)
        fail("VFIO_DEVICE_BIND_IOMMUFD", r);

    struct iommu_hw_info_arm_smmuv3 data;
    struct iommu_hw_info info;
    memset(&data, 0, sizeof(data));
    memset(&info, 0, sizeof(info));
    info.size = sizeof(info);
    info.dev_id = bind.out_devid;
    info.data_len = sizeof(data);
    info.data_uptr = (u64)(unsigned long)&data;
    r = sys3(SYS_ioctl, iommufd, IOMMU_GET_HW_INFO, (s64)&info);
    if (r < 0)
        fail("IOMMU_GET_HW_INFO", r);
    field("info_type", info.data_type, 0);
    field("data_len", info.data_len, 0);
    field("flags", data.flags, 1);
    for (int i = 0; i < 6; i++) {
        char key[5] = {'i', 'd', 'r', (char)('0' + i), 0};
        field(key, data.idr[i], 1);
    }
    field("iidr", data.iidr, 1);
    field("aidr", data.aidr, 1);
    field("capabilities", info.out_capabilities, 1);
    field("max_pasid_log2", info.out_max_pasid_log2, 0);

    u8 cmdqv[64];
    memset(&info, 0, sizeof(info));
    info.size = sizeof(info);
    info.flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE;
    info.dev_id = bind.out_devid;
    info.data_len = sizeof(cmdqv);
    info.data_uptr = (u64)(unsigned long)cmdqv;
    info.data_type = IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV;
    r = sys3(SYS_ioctl, iommufd, IOMMU_GET_HW_INFO, (s64)&info);
    field("cmdqv", r == 0, 0);
    field("cmdqv_errno", r < 0 ? (u64)(-r) : 0, 0);
    flush();
    sys3(SYS_close, devfd, 0, 0);
    sys3(SYS_close, iommufd, 0, 0);
    return 0;
}

/* entry point: sp -> argc, argv[0], argv[1], ... */
__attribute__((used)) void start_c(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    if (argc != 2) {
        put("usage: smmu-hwinfo /dev/vfio/devices/vfioN\n");
        flush();
        sys3(SYS_exit_group, 2, 0, 0);
    }
    sys3(SYS_exit_group, run(argv[1]), 0, 0);
}

__asm__(".text\n.global _start\n_start:\n  mov x0, sp\n  bl start_c\n  b .\n");
