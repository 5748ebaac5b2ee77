"""This process's resident memory, read while something hostile runs."""

from __future__ import annotations

import ctypes
import os
import threading


def rss_mb() -> float:
    """Resident memory after glibc hands its free pages back, so freed buffers do not count."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss(threading.Thread):
    """Samples this process's resident memory until stopped and keeps the highest figure."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_mb()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return max(self.peak, rss_mb())
