"""The guest-driven tier's payload: ``images/payload/`` cross-built, hashed and cached.

The payload is a bare-metal aarch64 program (``start.S``, ``main.c``, ``payload.ld``)
that L2 runs as ``-bios`` (see ``images/payload/main.c`` for what it does and the step
script format).  :func:`build_payload` compiles it with Debian's
``gcc-aarch64-linux-gnu`` (the compiler the iommufd kernel already uses) and keeps the
flat binary in ``images_root()/payload/<key>/payload.bin``, where ``<key>`` is the
sha256 of the sources, the flags and the compiler's ``--version``: unchanged inputs
return the cached file at once.  The build is reproducible (no build id, source paths
mapped to ``.``, no timestamps); ``manifest.json`` beside the binary records its sha256,
the inputs and the build time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from artefacts import ArtefactError
from artefacts.images import images_root

#: the sources live beside the other image recipes (data, not code, for this package)
SOURCE_DIR = Path(__file__).resolve().parent.parent / "images" / "payload"
SOURCES = ("start.S", "main.c", "payload.ld")
CROSS = "aarch64-linux-gnu-"
CFLAGS = ("-O2", "-ffreestanding", "-nostdlib", "-nostartfiles", "-static", "-fno-pic",
          "-fno-pie", "-no-pie", "-mstrict-align", "-mgeneral-regs-only",
          "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-Wall", "-Wextra",
          "-Werror")
#: bump when the build steps change in a way the inputs do not show
FORMAT = 1


@dataclass(frozen=True)
class Payload:
    path: Path  # the flat binary (-bios)
    sha256: str
    build_seconds: float  # of the build that produced it (0.0: never timed)
    cached: bool


def _compiler_version() -> str:
    gcc = shutil.which(CROSS + "gcc")
    if gcc is None:
        raise ArtefactError(f"{CROSS}gcc not found (apt-get install gcc-aarch64-linux-gnu)")
    out = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "?"


def inputs_key() -> str:
    h = hashlib.sha256(f"format={FORMAT}\n".encode())
    h.update(_compiler_version().encode())
    h.update(" ".join(CFLAGS).encode())
    for name in SOURCES:
        h.update(name.encode() + b"\0" + (SOURCE_DIR / name).read_bytes())
    return h.hexdigest()


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def build_payload(force: bool = False) -> Payload:
    """The payload binary, built if its inputs changed (:class:`ArtefactError` on failure)."""
    key = inputs_key()
    out_dir = images_root() / "payload" / key[:16]
    binary, manifest = out_dir / "payload.bin", out_dir / "manifest.json"
    if not force and binary.exists() and manifest.exists():
        m = json.loads(manifest.read_text())
        if m.get("sha256") == _sha256(binary):
            return Payload(binary, m["sha256"], float(m.get("build_seconds", 0.0)), True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="payload-") as tmp:
        t = Path(tmp)
        elf = t / "payload.elf"
        cmd = [CROSS + "gcc", *CFLAGS, f"-ffile-prefix-map={SOURCE_DIR}=.",
               "-Wl,--build-id=none", f"-Wl,-T,{SOURCE_DIR / 'payload.ld'}", "-o", str(elf),
               str(SOURCE_DIR / "start.S"), str(SOURCE_DIR / "main.c")]
        for argv in (cmd, [CROSS + "objcopy", "-O", "binary", str(elf), str(t / "payload.bin")]):
            r = subprocess.run(argv, capture_output=True, text=True, check=False,
                               env=dict(os.environ, LC_ALL="C"))
            if r.returncode != 0:
                last = (r.stderr.strip().splitlines() or ["?"])[-1]
                raise ArtefactError(f"payload build failed ({argv[0]}): {last}")
        seconds = round(time.monotonic() - t0, 3)
        new = out_dir.with_name(out_dir.name + ".new")
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir(parents=True)
        shutil.copy2(t / "payload.bin", new / "payload.bin")
        digest = _sha256(new / "payload.bin")
        (new / "manifest.json").write_text(json.dumps({
            "sha256": digest, "inputs_sha256": key, "compiler": _compiler_version(),
            "cflags": list(CFLAGS), "build_seconds": seconds,
            "sources": {n: _sha256(SOURCE_DIR / n) for n in SOURCES},
        }, indent=2) + "\n")
        shutil.rmtree(out_dir, ignore_errors=True)
        new.rename(out_dir)
    return Payload(binary, digest, seconds, False)
