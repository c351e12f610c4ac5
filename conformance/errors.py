"""Typed errors of the harness: one root, :class:`HarnessError`.

Every error here has a one-line ``str()`` that a user can act on.  The split matters for
verdicts: errors about *QEMU's behaviour* (it died, it hung) become ``nonconformance``
because the model never predicts a crash or a hang; errors about *the harness or host*
(no binary, QMP never came up, socket lost while QEMU lives) become ``infra-error``.

The tree (modules other than this one define the classes marked with theirs)::

    HarnessError
     +-- UsageError                     bad option/scenario: one line, exit status 2
     +-- BinaryError                    no binary, not QEMU, not an aarch64 build
     +-- QemuDied                       QEMU ended while the harness talked to it
     +-- QmpTimeout                     no QMP answer in time: a hang
     |    +-- ScenarioTimeout           the whole scenario over its budget
     +-- QmpLost                        QMP socket lost while QEMU lives
     +-- QmpStartupFailed               QMP never reachable
     +-- HostError                      tmp folder, fork, file: the host failed us
     +-- tiers.nested.l1.L1Error        L1 could not be booted or prepared
     +-- tiers.nested.qga.QgaError      the L1 guest agent failed
     |    +-- QgaTimeout, QgaLost, QgaCommandError
     +-- frontends.report_html.ReportError   the report folder cannot be written
                                              (also an OSError)

Outside the tree, on purpose:

* :class:`Interrupted`: a signal stopped the run; nothing is said about QEMU;
* ``session.CommandFailed``: QEMU refused a QMP command, which is an *observation*;
* ``reference_model.errors.ModelError``: the model does not cover this (the model's
  own root; the runner reports it as ``infra-error``);
* ``artefacts.ArtefactError`` (ProvisionError, images.ImageError): the artefact layer
  sits below the harness and does not import it; where the harness meets these errors
  it turns them into a skip reason or a usage error.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class: something stopped the harness from observing QEMU."""


class UsageError(HarnessError):
    """A user error (option, scenario file, binary): printed as one line, exit status 2."""


class BinaryError(HarnessError):
    """The QEMU binary is missing, not executable, not QEMU, or not an aarch64 build."""


class QemuDied(HarnessError):
    """QEMU exited (or was killed) while the harness was talking to it."""

    def __init__(self, msg: str, status: object | None = None, where: str = "") -> None:
        super().__init__(msg)
        self.status = status
        #: when it happened, for verdict reasons ("during 'device_add'")
        self.where = where or "during the QMP session"


class QmpTimeout(HarnessError):
    """QEMU did not answer a QMP command (or never greeted) in time: a hang."""


class ScenarioTimeout(QmpTimeout):
    """The whole scenario (start, events, observation, quit) exceeded its time budget."""


class QmpLost(HarnessError):
    """The QMP connection broke although the QEMU process is still alive."""


class QmpStartupFailed(HarnessError):
    """QMP could not be reached at all (socket never appeared, connection refused)."""


class HostError(HarnessError):
    """The host failed the harness: cannot create the temporary folder (disk full,
    read-only ``$TMPDIR``), cannot fork, cannot open a file."""


class Interrupted(Exception):
    """The run was stopped by a signal (SIGINT, SIGTERM, SIGHUP), after clean-up.

    Not a :class:`HarnessError`: nothing is reported about QEMU; the CLI exits
    ``128 + signum``.
    """

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
