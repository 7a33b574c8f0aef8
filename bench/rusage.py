"""`python -m bench.rusage OUT -- COMMAND...`: run COMMAND, write its wall time and peak RSS to OUT.

Measuring a child of the benchmark directly over-reports its peak RSS: ru_maxrss counts
the pages a forked child shares with its parent before exec, and the benchmark process
holds the emulator and the whole fleet. This small process forks the command instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main(argv: list[str]) -> int:
    out, sep, *command = argv
    assert sep == "--" and command, __doc__
    started = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = code = os.waitstatus_to_exitcode(status)
    with open(out, "w") as f:
        json.dump({"wall_s": wall, "maxrss_mb": usage.ru_maxrss / 1024, "exit": code}, f)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
