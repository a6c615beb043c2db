#!/usr/bin/env python3
"""Stand-in for mpirun (tests only): drops ``-n N``/``-np N``, runs the rest once with
OMPI_COMM_WORLD_SIZE=N as Open MPI's launcher sets it, and returns its exit status."""

import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    ranks = "1"
    rest: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in ("-n", "-np", "--np") and i + 1 < len(argv):
            ranks = argv[i + 1]
            i += 2
            continue
        rest.append(argv[i])
        i += 1
    env = dict(os.environ, OMPI_COMM_WORLD_SIZE=ranks)
    return subprocess.call(rest, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
