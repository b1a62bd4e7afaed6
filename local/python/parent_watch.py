"""Local mode's child processes die with the server that started them.

The local SageMaker server starts training and serving processes in their own session (so a Ctrl-C in the
terminal reaches only relearn, which then stops them in order, instead of killing a model mid-load). If that
server dies without stopping them (kill -9), the kernel sends this process SIGTERM (Linux PR_SET_PDEATHSIG,
kept across the training harness's execve), so nothing is left running with its port open.
"""
import os
import signal
import sys


def die_with_parent():
    expected = os.environ.get("RELEARN_PARENT_PID")
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the server's exit handler is all there is
    # The parent may have died before prctl: then this process already belongs to another one.
    if expected and str(os.getppid()) != expected:
        sys.exit("relearn local: the server that started this process is gone")
