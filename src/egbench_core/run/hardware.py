"""The machine: what a run started on (:func:`machine`, once per run) and what a figure was measured
on (:func:`hardware`, next to every timing). The one place egbench describes hardware."""

from __future__ import annotations

import os
import platform
import resource
import sys
from typing import Any


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(precision: str = "", device=None) -> dict:
    """The machine and device a figure was measured on: CPU, threads, precision, torch (and, on a
    GPU, its name, CUDA version and memory)."""
    import torch

    device = torch.device(device or "cpu")
    out = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "precision": precision,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": str(device),
        "device_class": device.type,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        out.update(
            device_name=props.name, cuda=torch.version.cuda, device_memory_gib=round(props.total_memory / 2**30, 1)
        )
    else:
        out["device_name"] = out["cpu"]
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> dict[str, Any]:
    """The machine a run starts on: hardware and OS (recorded once per run; :func:`hardware` is what
    goes next to every timing)."""
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    except OSError:
        pass
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "hostname": platform.node(),
    }
