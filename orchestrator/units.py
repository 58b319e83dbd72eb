"""Parse the human units that specs and site configs use (walltime, memory)."""

from __future__ import annotations

import re

_WALL_SUFFIX = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)\s*$")
_SLURM_WALL = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
_MEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]i?B?|B)?\s*$", re.IGNORECASE)
_MEM_FACTORS = {
    "": 1, "B": 1,
    "K": 1024, "KB": 1000, "KIB": 1024, "KI": 1024,
    "M": 1024**2, "MB": 1000**2, "MIB": 1024**2, "MI": 1024**2,
    "G": 1024**3, "GB": 1000**3, "GIB": 1024**3, "GI": 1024**3,
    "T": 1024**4, "TB": 1000**4, "TIB": 1024**4, "TI": 1024**4,
    "P": 1024**5, "PB": 1000**5, "PIB": 1024**5, "PI": 1024**5,
}


MAX_WALLTIME = 366 * 86400
MAX_MEMORY = 1024**6  # 1 EiB


def parse_walltime(value: str | int | float) -> int:
    """Seconds from `90s`/`30m`/`2h`/`1d`, Slurm `[D-]HH:MM:SS` forms, or a number of minutes."""
    seconds = _parse_walltime(value)
    if seconds > MAX_WALLTIME:
        raise ValueError(f"walltime {value!r} is longer than a year")
    return seconds


def _parse_walltime(value: str | int | float) -> int:
    if isinstance(value, bool):
        raise ValueError("walltime must be a duration such as '01:30:00' or '90m'")
    if isinstance(value, int | float):
        if not value > 0 or value > MAX_WALLTIME:
            raise ValueError("walltime must be a positive number of minutes, at most a year")
        return int(value * 60)
    text = str(value).strip()
    m = _WALL_SUFFIX.match(text)
    if m:
        n, unit = float(m.group(1)), m.group(2)
        seconds = n * {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}[unit]
    else:
        m = _SLURM_WALL.match(text)
        if not m:
            raise ValueError(f"{text!r} is not a walltime (use HH:MM:SS, D-HH:MM:SS, 30m, 2h)")
        days, a, b, c = m.groups()
        parts = [int(x) for x in (a, b, c) if x is not None]
        if days is not None:  # D-HH[:MM[:SS]]
            parts += [0] * (3 - len(parts))
            seconds = int(days) * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]
        elif len(parts) == 1:  # minutes, as Slurm reads a bare number
            seconds = parts[0] * 60
        elif len(parts) == 2:  # MM:SS
            seconds = parts[0] * 60 + parts[1]
        else:
            seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    if not seconds > 0 or seconds > MAX_WALLTIME:
        raise ValueError("walltime must be positive and at most a year")
    return int(seconds)


def format_walltime(seconds: int) -> str:
    """Slurm's `D-HH:MM:SS` (or `HH:MM:SS` under a day)."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    core = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{core}" if days else core


def parse_memory(value: str | int) -> int:
    """Bytes from `512MB`, `4GiB`, `16G` (binary for bare K/M/G/T, as Slurm does)."""
    if isinstance(value, bool):
        raise ValueError("memory must be a size such as '4GiB'")
    if isinstance(value, int):
        if value < 0 or value > MAX_MEMORY:
            raise ValueError("memory must be between 0 and 1 EiB")
        return value
    m = _MEM.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a memory size (use e.g. 512MB, 4GiB, 16G)")
    unit = (m.group(2) or "").upper()
    amount = float(m.group(1)) * _MEM_FACTORS[unit]
    if not amount <= MAX_MEMORY:
        raise ValueError(f"memory {value!r} is larger than 1 EiB")
    return int(amount)


def format_memory(nbytes: int) -> str:
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if nbytes >= factor:
            return f"{nbytes / factor:.4g}{unit}"
    return f"{nbytes}B"
