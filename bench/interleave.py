#!/usr/bin/env python3
"""Interleaved timing of several commands on a noisy host.

hyperfine runs all of one command's runs, then the next command's: on a
shared host whose speed drifts by tens of percent within minutes, that drift
lands on whichever command ran during it. Here each round runs every command
once, in alternating order, so drift falls on all of them alike.

    usage: bench/interleave.py ROUNDS NAME=COMMAND [NAME=COMMAND ...]

Prints, per command, the minimum and median CPU time (user + sys of the
command and its children) and the median and minimum wall time, and both
medians as ratios to the first command. One warm-up round is not counted.
"""
import resource
import statistics
import subprocess
import sys
import time


def main() -> None:
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    cmds = [a.split("=", 1) for a in sys.argv[2:]]
    if any(len(c) != 2 for c in cmds):
        sys.exit("each command is NAME=COMMAND")
    res = {n: [] for n, _ in cmds}
    for r in range(rounds + 1):
        for name, cmd in cmds if r % 2 == 0 else cmds[::-1]:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            if r > 0:
                res[name].append((wall, cpu))
    first = None
    print("| command | CPU min (ms) | CPU median (ms) | wall median (ms) | wall min (ms) | wall / first | CPU / first |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, _ in cmds:
        walls = [w for w, _ in res[name]]
        cpus = [c for _, c in res[name]]
        mw, mc = statistics.median(walls), statistics.median(cpus)
        first = first or (mw, mc)
        print(f"| {name} | {min(cpus)*1e3:,.0f} | {mc*1e3:,.0f} | {mw*1e3:,.0f} | {min(walls)*1e3:,.0f} "
              f"| {mw/first[0]:.2f} | {mc/first[1]:.2f} |")


if __name__ == "__main__":
    main()
