"""QEMU's command line, parsed the way ``qemu-system-aarch64`` parses it.

Two layers, as in QEMU:

* the **option loop** (``system/vl.c``): every argument that starts with ``-`` or
  ``--`` names an option; :data:`TAKES_ARG` says whether the next argument is its
  value.  An unknown option gives ``-foo: invalid option``; a missing value gives
  ``-device: requires an argument``.  Non-option arguments are disk images (``-hda``).
* the **option-string parser** (QemuOpts, ``util/qemu-option.c``) for ``-device``,
  ``-M``, ``-accel``, ``-object`` and ``-global``: ``key=value`` pairs separated by
  ``,``; a doubled ``,,`` is a literal comma; the first item may be an implied key
  (``driver`` for ``-device``, ``type`` for ``-M``/``-machine``, ``accel`` for
  ``-accel``, ``qom-type`` for ``-object``); a bare ``key`` means ``key=on`` and
  ``nokey`` means ``key=off`` (QemuOpts' boolean shorthand).  Repeated keys: the
  last one wins.

``-device`` option strings are parsed *during the option loop*, so their syntax
errors (a bad ``id=``, a duplicate id) stop QEMU before any machine exists;
everything else about a device happens later, in :mod:`reference_model.engine`.

Parsing is pure and cached per option string (:func:`split_opts`), because the same
strings recur across scenarios.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "TAKES_ARG", "CmdlineError", "DeviceOpt", "ParsedCmdline", "parse", "parse_bool",
    "split_opts",
]

#: Options of qemu-system-aarch64 11.1 that take a value (``qemu-options.hx``,
#: ``HAS_ARG``).  Options not listed here and not in :data:`NO_ARG` are invalid.
TAKES_ARG: frozenset[str] = frozenset("""
M machine cpu accel smp m mem-path k audio audiodev device global name uuid fda fdb hda
hdb hdc hdd cdrom drive blockdev mtdblock sd pflash fsdev virtfs iscsi boot bios kernel
initrd append dtb fw_cfg serial parallel monitor qmp qmp-pretty mon chardev netdev net
nic object display vga g vnc spice usbdevice trace D d dfilter L plugin incoming loadvm
pidfile runas chroot rtc icount watchdog-action echr smbios acpitable option-rom add-fd
readconfig seed qtest qtest-log numa tpmdev overcommit action run-with compat sandbox
msg semihosting-config xen-domid set gdb prom-env virtfs_synth debugcon pcidevice
mem-prealloc-threads

""".split())  # noqa: SIM905

#: Options that take no value.
NO_ARG: frozenset[str] = frozenset("""
S nodefaults display-none enable-kvm nographic no-reboot no-shutdown daemonize snapshot
full-screen no-user-config nouserconfig only-migratable preconfig enable-sync-profile s
h help version semihosting mem-prealloc async-teardown old-param no-hpet win2k-hack usb
xen-attach
""".split())  # noqa: SIM905


class CmdlineError(ValueError):
    """The command line is invalid, or uses something the model does not cover.

    ``qemu_text`` holds what QEMU prints for the error (without the program-name
    prefix), when QEMU itself would reject the command line this way; it is ``None``
    when the problem is only that the model does not cover the input.  ``str()`` is a
    one-line description naming the option.
    """

    def __init__(self, message: str, qemu_text: str | None = None, row: str = "F") -> None:
        super().__init__(message)
        self.qemu_text = qemu_text
        self.row = row


_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_ID_ERROR = ("Parameter 'id' expects an identifier\n"
             "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.")


@lru_cache(maxsize=8192)
def split_opts(text: str, implied: str | None) -> tuple[tuple[str, str], ...]:
    """``"e1000e,id=n,,1,romfile="`` -> ``(("driver","e1000e"), ("id","n,1"), ...)``.

    Order and repeats are kept (callers decide which one wins: QEMU takes the last).
    ``implied`` names the key of a leading bare value (``driver``, ``type`` ...).
    """
    items: list[tuple[str, str]] = []
    i, n, first = 0, len(text), True
    while i < n:
        # read one item up to an unescaped comma
        buf: list[str] = []
        while i < n:
            c = text[i]
            if c == ",":
                if i + 1 < n and text[i + 1] == ",":
                    buf.append(",")
                    i += 2
                    continue
                break
            buf.append(c)
            i += 1
        i += 1  # skip the separator
        item = "".join(buf)
        key, eq, value = item.partition("=")
        if first and implied is not None and not eq:
            items.append((implied, item))
        elif eq:
            items.append((key, value))
        elif item.startswith("no") and len(item) > 2:
            items.append((item[2:], "off"))
        elif item:
            items.append((item, "on"))
        first = False
    return tuple(items)


_BOOL = {"on": True, "yes": True, "true": True, "y": True,
         "off": False, "no": False, "false": False, "n": False}


def parse_bool(name: str, value: str) -> bool:
    """QAPI's boolean spelling (``qapi_bool_parse``); raises with QEMU's message."""
    try:
        return _BOOL[value]
    except KeyError:
        raise ValueError(f"Parameter '{name}' expects 'on' or 'off'") from None


@dataclass(slots=True)
class DeviceOpt:
    """One ``-device`` option."""

    optstring: str
    driver: str
    props: dict[str, str]  # in QemuOpts order, last repeat wins; no driver/id
    id: str | None
    index: int  # position among the -device options

    @property
    def location(self) -> str:
        """QEMU's location prefix for errors reported while creating this device."""
        return f"-device {self.optstring}: "


@dataclass(slots=True)
class ParsedCmdline:
    """What the option loop gathered (nothing is validated beyond syntax yet)."""

    machine: dict[str, str] = field(default_factory=dict)  # merged -M/-machine opts
    machine_given: bool = False
    accels: list[dict[str, str]] = field(default_factory=list)  # -accel, in order
    enable_kvm: bool = False
    devices: list[DeviceOpt] = field(default_factory=list)
    globals: list[tuple[str, str, str, str]] = field(default_factory=list)  # drv,prop,val,text
    objects: list[dict[str, str]] = field(default_factory=list)
    netdevs: set[str] = field(default_factory=set)
    bios: str | None = None
    kernel: str | None = None
    pflash: bool = False
    qtest: bool = False
    nodefaults: bool = False
    only_migratable: bool = False


def _global(text: str) -> tuple[str, str, str, str]:
    """``-global driver.prop=value`` (also ``driver=D,property=P,value=V``)."""
    if "driver=" in text and "property=" in text:
        d = dict(split_opts(text, None))
        return d.get("driver", ""), d.get("property", ""), d.get("value", ""), text
    head, eq, value = text.partition("=")
    drv, dot, prop = head.rpartition(".")
    if not eq or not dot or not drv or not prop:
        raise CmdlineError(f"-global {text}: invalid format (expected DRIVER.PROP=VALUE)",
                           f"-global {text}: Invalid format")
    return drv, prop, value, text


@lru_cache(maxsize=8192)
def _device_items(v: str) -> tuple[str, dict[str, str], str | None, bool]:
    """driver, properties (no driver/id; last repeat wins), id of one -device string,
    and whether that id is a valid QEMU identifier.

    The dict is shared between calls with the same string: callers must not mutate it.
    """
    props: dict[str, str] = {}
    driver = ""
    dev_id: str | None = None
    for k, val in split_opts(v, "driver"):
        if k == "driver":
            driver = val
        elif k == "id":
            dev_id = val
        else:
            props[k] = val
    return driver, props, dev_id, dev_id is None or bool(_ID_RE.match(dev_id))


#: option kinds for :func:`_option`
_IMAGE, _NOARG, _ARG = 0, 1, 2


@lru_cache(maxsize=1024)
def _option(a: str) -> tuple[int, str]:
    """What the option loop makes of one argument: (kind, option name).

    Raises :class:`CmdlineError` for an unknown option (not cached: lru_cache does not
    keep exceptions).
    """
    if not a.startswith("-") or a == "-":
        return _IMAGE, ""  # a disk image (implicit -hda): not modelled, harmless here
    name = a[2:] if a.startswith("--") else a[1:]
    if name in NO_ARG:
        return _NOARG, name
    if name not in TAKES_ARG:
        raise CmdlineError(f"{a}: invalid option", f"{a}: invalid option")
    return _ARG, name


def parse(argv: tuple[str, ...] | list[str]) -> ParsedCmdline:
    """Run QEMU's option loop over ``argv`` (without the binary)."""
    out = ParsedCmdline()
    seen_ids: set[str] = set()
    i, n = 0, len(argv)
    devices = out.devices
    while i < n:
        a = argv[i]
        i += 1
        kind, name = _option(a)
        if kind == _IMAGE:
            continue
        if kind == _NOARG:
            if name == "enable-kvm":
                out.enable_kvm = True
            elif name == "nodefaults":
                out.nodefaults = True
            elif name == "only-migratable":
                out.only_migratable = True
            continue
        if i >= n:
            raise CmdlineError(f"{a}: requires an argument", f"{a}: requires an argument")
        v = argv[i]
        i += 1
        if name == "device":
            if v[:1] == "{":
                raise CmdlineError(f"-device {v}: JSON -device syntax is not modelled")
            driver, props, dev_id, id_ok = _device_items(v)
            if dev_id is not None:
                if not id_ok:
                    raise CmdlineError(f"-device {v}: invalid id '{dev_id}'",
                                       f"-device {v}: {_ID_ERROR}")
                if dev_id in seen_ids:
                    raise CmdlineError(f"-device {v}: duplicate id '{dev_id}'",
                                       f"-device {v}: Duplicate ID '{dev_id}' for device")
                seen_ids.add(dev_id)
            devices.append(DeviceOpt(v, driver, props, dev_id, len(devices)))
        elif name == "M" or name == "machine":
            out.machine_given = True
            out.machine.update(split_opts(v, "type"))
        elif name == "accel":
            out.accels.append(dict(split_opts(v, "accel")))
        elif name == "global":
            out.globals.append(_global(v))
        elif name == "object":
            out.objects.append(dict(split_opts(v, "qom-type")))
        elif name == "netdev":
            d = dict(split_opts(v, "type"))
            if "id" in d:
                out.netdevs.add(d["id"])
        elif name == "bios":
            out.bios = v
        elif name == "kernel":
            out.kernel = v
        elif name == "pflash":
            out.pflash = True
        elif name == "drive":
            if dict(split_opts(v, "file")).get("if") == "pflash":
                out.pflash = True
        elif name == "qtest":
            out.qtest = True
    return out
