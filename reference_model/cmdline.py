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
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from typing import NoReturn

__all__ = [
    "TAKES_ARG", "CmdlineError", "DeviceOpt", "ParsedCmdline", "clear_caches", "parse",
    "parse_bool", "split_opts",
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
    return _split(text, implied)


def _split(text: str, implied: str | None) -> tuple[tuple[str, str], ...]:
    """:func:`split_opts` without its cache (for callers that cache the result)."""
    items: list[tuple[str, str]] = []
    if ",," not in text:
        # no escaped comma: the items are the comma-separated parts (the loop below
        # makes no item after a trailing comma, and none of an empty string)
        parts = text.split(",")
        if not parts[-1]:  # a trailing comma, or an empty text
            parts.pop()
        if not parts:
            return ()
        append = items.append
        it = iter(parts)
        if implied is not None and "=" not in parts[0]:
            append((implied, next(it)))
        for item in it:
            key, eq, value = item.partition("=")
            if eq:
                append((key, value))
            elif item.startswith("no") and len(item) > 2:
                append((item[2:], "off"))
            elif item:
                append((item, "on"))
        return tuple(items)
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
    #: ``props.get("bus")``, ``props.get("iommufd")``, ``"netdev" in props``: what the
    #: engine reads of every device, computed once per (cached) option
    bus: str | None = None
    iommufd: str | None = None
    netdev: bool = False
    #: ``addr`` or ``multifunction`` given (the engine's PCI slot fast path does not apply)
    slotted: bool = False

    @property
    def location(self) -> str:
        """QEMU's location prefix for errors reported while creating this device."""
        return f"-device {self.optstring}: "


_NO_IDS: frozenset[str] = frozenset()


class ParsedCmdline:
    """What the option loop gathered (nothing is validated beyond syntax yet).

    A plain ``__slots__`` record (one is built per prediction: keep it cheap)."""

    __slots__ = ("accels", "bios", "devices", "enable_kvm", "globals", "kernel", "machine",
                 "machine_given", "machine_key", "netdevs", "nodefaults", "objects",
                 "only_migratable", "pflash", "qtest")

    def __init__(self) -> None:
        self.machine: dict[str, str] = {}  # merged -M/-machine opts
        self.machine_given = False
        #: the -M texts, as a key for memoising their outcome: the text of a single -M,
        #: else nested pairs in order (equal keys: equal merged ``machine``)
        self.machine_key: str | tuple[object, str] | None = None
        self.accels: list[dict[str, str]] = []  # -accel, in order
        self.enable_kvm = False
        self.devices: list[DeviceOpt] = []
        self.globals: list[tuple[str, str, str, str]] = []  # drv,prop,val,text
        self.objects: list[dict[str, str]] = []
        self.netdevs: AbstractSet[str] = _NO_IDS
        self.bios: str | None = None
        self.kernel: str | None = None
        self.pflash = False
        self.qtest = False
        self.nodefaults = False
        self.only_migratable = False


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


def _device_items(v: str) -> tuple[str, dict[str, str], str | None, bool]:
    """driver, properties (no driver/id; last repeat wins), id of one -device string,
    and whether that id is a valid QEMU identifier.

    Not cached itself: :func:`_device_opt` keeps what is made of the string.
    """
    props = dict(_split(v, "driver"))
    driver = props.pop("driver", "")
    dev_id = props.pop("id", None)
    if dev_id is None:
        return driver, props, dev_id, True
    ok = _ID_OK.get(dev_id)
    if ok is None:
        if len(_ID_OK) > 4096:
            _ID_OK.clear()
        ok = _ID_OK[dev_id] = _ID_RE.match(dev_id) is not None
    return driver, props, dev_id, ok


#: id -> whether it is a well-formed QEMU identifier (the same ids recur across strings)
_ID_OK: dict[str, bool] = {}


#: -device option string -> (its DeviceOpt, whether its id is valid); filled by
#: :func:`_device_opt`, read directly by :func:`parse` (a dict lookup is cheaper than a
#: call through ``lru_cache``); bounded like the other per-string caches
_DEVICE_OPTS: dict[str, tuple[DeviceOpt, bool]] = {}


def _device_opt(v: str) -> tuple[DeviceOpt, bool]:
    """The :class:`DeviceOpt` of ``-device v``, and whether its id is valid (memoised in
    :data:`_DEVICE_OPTS`).  Shared between calls: callers must not mutate it.

    Raises :class:`CmdlineError` for JSON syntax (not memoised)."""
    if v[:1] == "{":
        raise CmdlineError(f"-device {v}: JSON -device syntax is not modelled")
    driver, props, dev_id, id_ok = _device_items(v)
    if len(_DEVICE_OPTS) > 8192:
        _DEVICE_OPTS.clear()
    r = _DEVICE_OPTS[v] = (DeviceOpt(v, driver, props, dev_id, props.get("bus"),
                                     props.get("iommufd"), "netdev" in props,
                                     "addr" in props or "multifunction" in props), id_ok)
    return r


@lru_cache(maxsize=4096)
def _opts_dict(v: str, implied: str) -> dict[str, str]:
    """``dict(split_opts(v, implied))``, shared between calls: callers only read it."""
    return dict(split_opts(v, implied))


#: -M and -accel option strings -> their items / dict (shared: callers only read them);
#: read directly by :func:`parse`, filled by the two functions below
_MACHINE_OPTS: dict[str, tuple[tuple[str, str], ...]] = {}
_ACCEL_OPTS: dict[str, dict[str, str]] = {}


def _machine_opts(v: str) -> tuple[tuple[str, str], ...]:
    if len(_MACHINE_OPTS) > 4096:
        _MACHINE_OPTS.clear()
    r = _MACHINE_OPTS[v] = _split(v, "type")
    return r


def _accel_opts(v: str) -> dict[str, str]:
    if len(_ACCEL_OPTS) > 4096:
        _ACCEL_OPTS.clear()
    r = _ACCEL_OPTS[v] = dict(_split(v, "accel"))
    return r


#: option kinds for :func:`_option`: a disk image, a no-value option that changes
#: nothing the model reads, one that does, a value option that changes nothing the
#: model reads, and one code per value option the model reads
(_IMAGE, _NOARG, _ENABLE_KVM, _NODEFAULTS, _ONLY_MIGRATABLE, _ARG, _DEVICE, _MACHINE,
 _ACCEL, _GLOBAL, _OBJECT, _NETDEV, _BIOS, _KERNEL, _PFLASH, _DRIVE, _QTEST) = range(17)
_NOARG_KINDS = {"enable-kvm": _ENABLE_KVM, "nodefaults": _NODEFAULTS,
                "only-migratable": _ONLY_MIGRATABLE}
_ARG_KINDS = {"device": _DEVICE, "M": _MACHINE, "machine": _MACHINE, "accel": _ACCEL,
              "global": _GLOBAL, "object": _OBJECT, "netdev": _NETDEV, "bios": _BIOS,
              "kernel": _KERNEL, "pflash": _PFLASH, "drive": _DRIVE, "qtest": _QTEST}
#: argument -> kind, filled as arguments are met (valid options only)
_KINDS: dict[str, int] = {}


def _option(a: str) -> int:
    """What the option loop makes of one argument (its kind, memoised per argument).

    Raises :class:`CmdlineError` for an unknown option (not memoised).
    """
    if not a.startswith("-") or a == "-":
        kind = _IMAGE  # a disk image (implicit -hda): not modelled, harmless here
    else:
        name = a[2:] if a.startswith("--") else a[1:]
        if name in NO_ARG:
            kind = _NOARG_KINDS.get(name, _NOARG)
        elif name in TAKES_ARG:
            kind = _ARG_KINDS.get(name, _ARG)
        else:
            raise CmdlineError(f"{a}: invalid option", f"{a}: invalid option")
    if len(_KINDS) > 4096:
        _KINDS.clear()
    _KINDS[a] = kind
    return kind


assert _DEVICE == 6  # parse() tests the literal


def clear_caches() -> None:
    """Forget every per-string parse result (the next parse of a string parses it)."""
    split_opts.cache_clear()
    _ID_OK.clear()
    _opts_dict.cache_clear()
    _DEVICE_OPTS.clear()
    _MACHINE_OPTS.clear()
    _ACCEL_OPTS.clear()
    _KINDS.clear()


def _bad_id(v: str, dev_id: str, id_ok: bool) -> NoReturn:
    """Raise the option loop's error for an invalid (first) or duplicate id."""
    if not id_ok:
        raise CmdlineError(f"-device {v}: invalid id '{dev_id}'", f"-device {v}: {_ID_ERROR}")
    raise CmdlineError(f"-device {v}: duplicate id '{dev_id}'",
                       f"-device {v}: Duplicate ID '{dev_id}' for device")


def parse(argv: tuple[str, ...] | list[str]) -> ParsedCmdline:
    """Run QEMU's option loop over ``argv`` (without the binary)."""
    out = ParsedCmdline()
    seen_ids: dict[str, None] = {}  # the -device ids so far (dict keys: cheaper than a set)
    devices = out.devices
    kinds = _KINDS
    device_opts = _DEVICE_OPTS
    it = iter(argv)
    for a in it:
        if a == "-device":  # the most frequent option: no kind lookup
            kind = 6
        else:
            k = kinds.get(a)
            # memoised in _KINDS: next time the lookup finds it
            kind = _option(a) if k is None else k
        if kind == 6:  # _DEVICE (also --device)
            v = next(it, None)
            if v is not None:
                d, id_ok = device_opts.get(v) or _device_opt(v)
                dev_id = d.id
                if dev_id is not None:
                    if not id_ok or dev_id in seen_ids:
                        _bad_id(v, dev_id, id_ok)
                    seen_ids[dev_id] = None
                devices.append(d)
                continue
            raise CmdlineError(f"{a}: requires an argument", f"{a}: requires an argument")
        if kind < _ARG:
            if kind == _ENABLE_KVM:
                out.enable_kvm = True
            elif kind == _NODEFAULTS:
                out.nodefaults = True
            elif kind == _ONLY_MIGRATABLE:
                out.only_migratable = True
            continue
        v = next(it, None)
        if v is None:
            raise CmdlineError(f"{a}: requires an argument", f"{a}: requires an argument")
        if kind == _ARG:
            continue
        if kind == _MACHINE:
            out.machine_given = True
            out.machine.update(_MACHINE_OPTS.get(v) or _machine_opts(v))
            out.machine_key = v if out.machine_key is None else (out.machine_key, v)
        elif kind == _ACCEL:
            out.accels.append(_ACCEL_OPTS.get(v) or _accel_opts(v))
        elif kind == _GLOBAL:
            out.globals.append(_global(v))
        elif kind == _OBJECT:
            out.objects.append(_opts_dict(v, "qom-type"))
        elif kind == _NETDEV:
            nd = dict(split_opts(v, "type"))
            if "id" in nd:
                out.netdevs = out.netdevs | {nd["id"]}
        elif kind == _BIOS:
            out.bios = v
        elif kind == _KERNEL:
            out.kernel = v
        elif kind == _PFLASH:
            out.pflash = True
        elif kind == _DRIVE:
            if dict(split_opts(v, "file")).get("if") == "pflash":
                out.pflash = True
        elif kind == _QTEST:
            out.qtest = True
    return out
