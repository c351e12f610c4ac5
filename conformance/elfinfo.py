"""Why an executable cannot run here, read from its ELF header.

``execve`` says only "Exec format error"; a user who passed an arm64 build to an x86
machine (a cross-built QEMU tree, Debian's ``qemu-system-arm:arm64`` package) needs to
hear that, not "not a QEMU system emulator".
"""

from __future__ import annotations

import errno
import os
import platform
import struct

#: ELF e_machine -> architecture name (as ``uname -m`` prints it)
MACHINES = {3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm",
            62: "x86_64", 183: "aarch64", 243: "riscv64", 258: "loongarch64"}


def elf_machine(path: str) -> str | None:
    """The architecture an ELF file is built for (``None``: not ELF / unreadable)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order = "<" if head[5] == 1 else ">"
    (machine,) = struct.unpack(order + "H", head[18:20])
    return MACHINES.get(machine, f"ELF machine {machine}")


def why_not_runnable(path: str) -> str | None:
    """A sentence naming the build's architecture when it is not this host's."""
    arch = elf_machine(path)
    host = platform.machine() or os.uname().machine
    if arch is None or arch == host:
        return None
    return (f"it is an {arch} executable and this host is {host} (a QEMU built for "
            "another architecture; build or install one for this host)")


#: errors of the host's file system, whichever file they hit
HOST_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EMFILE, errno.ENFILE})


def start_error(binary: str, workdir: str, e: OSError) -> str:
    """One line for a failed QEMU start that blames the binary only when it is at fault.

    A full or read-only temporary folder, or too many open files, is the host's
    problem: the message names the folder, not the build (``git bisect`` must not
    mark a commit bad because ``/tmp`` filled up)."""
    why = e.strerror or str(e)
    if e.errno in HOST_ERRNOS or (e.filename and str(e.filename).startswith(workdir)):
        return (f"cannot set up the temporary folder {workdir}: {why} (the host, not "
                f"{os.path.basename(binary)})")
    return f"cannot start {binary}: {why_not_runnable(binary) or why}"
