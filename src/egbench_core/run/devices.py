"""``--device auto|cpu|cuda|cuda:N`` and ``--dtype``: resolved once, before any cell runs."""

from __future__ import annotations

DTYPES = ("float32", "float64")


class DeviceError(ValueError):
    """A device that does not exist here (one line for the user)."""


def resolve_device(text: str) -> str:
    """``auto`` → ``cuda`` when CUDA is available, else ``cpu``; ``cuda[:N]`` must exist."""
    import torch

    text = text.strip().lower()
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return "cpu"
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "no CUDA (a CPU build)"
            raise DeviceError(
                f"--device {text}: CUDA is not available here (torch {torch.__version__}, {build}); "
                "use --device cpu or auto"
            )
        index = text.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise DeviceError(
                f"--device {text}: expected cuda:0 … cuda:{torch.cuda.device_count() - 1} "
                f"({torch.cuda.device_count()} GPU(s) here)"
            )
        return text
    raise DeviceError(f"--device {text!r}: expected auto, cpu, cuda or cuda:N")


def check_dtype(dtype: str | None) -> str | None:
    if dtype is not None and dtype not in DTYPES:
        raise DeviceError(f"--dtype {dtype!r}: expected {' or '.join(DTYPES)}")
    return dtype
