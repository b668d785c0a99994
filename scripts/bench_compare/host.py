"""The machine the benchmark runs on, as the report names it."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

ARM_PARTS = {"0xd03": "Cortex-A53", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72", "0xd0b": "Cortex-A76"}


def machine() -> dict[str, Any]:
    """CPU model, cores, board (on a Raspberry Pi), OS, Python and the 1-minute load average."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        pass
    cpu = (fields.get("model name") or ARM_PARTS.get(fields.get("cpu part", ""), "")
           or platform.processor() or platform.machine())
    try:
        board = Path("/proc/device-tree/model").read_text().strip("\x00 \n")
    except OSError:
        board = ""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"cpu": cpu, "board": board, "cores": os.cpu_count(), "arch": platform.machine(),
            "os": platform.platform(), "python": platform.python_version(), "load_1min": round(load[0], 2)}


def is_x86(host: dict[str, Any]) -> bool:
    return host.get("arch", "").lower() in ("x86_64", "amd64", "i686", "i386")
