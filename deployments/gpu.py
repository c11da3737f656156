"""The local GPUs as ``nvidia-smi`` reports them, and whether their memory is under pressure."""

import logging
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

QUERY_FIELDS = "name,memory.used,memory.total,utilization.gpu,temperature.gpu"
NVIDIA_SMI = ["nvidia-smi", f"--query-gpu={QUERY_FIELDS}", "--format=csv,noheader,nounits"]


@dataclass(frozen=True)
class GpuStatus:
    index: int
    name: str
    memory_used_mib: int
    memory_total_mib: int
    utilization_pct: int | None  # None where the driver says [N/A] (e.g. some MIG or unified-memory parts)
    temperature_c: int | None

    @property
    def memory_fraction(self) -> float | None:
        return None if self.memory_total_mib <= 0 else self.memory_used_mib / self.memory_total_mib


def _number(text: str) -> int | None:
    text = text.strip()
    if not text or text.startswith("[") or text.upper() in ("N/A", "NOT SUPPORTED"):
        return None
    return int(float(text))


def parse_nvidia_smi(output: str) -> list[GpuStatus]:
    """One ``GpuStatus`` per line of ``--format=csv,noheader,nounits`` output; malformed lines are skipped."""
    gpus = []
    for line in output.splitlines():
        parts = [p.strip() for p in line.rsplit(",", 4)]  # rsplit: a GPU name may itself contain a comma
        if len(parts) != 5 or not parts[0]:
            continue
        try:
            used, total = _number(parts[1]), _number(parts[2])
            gpus.append(GpuStatus(len(gpus), parts[0], used or 0, total or 0, _number(parts[3]), _number(parts[4])))
        except ValueError:
            log.debug("nvidia-smi: skipped unparsable line %r", line)
    return gpus


Runner = Callable[..., subprocess.CompletedProcess[str]]


def query_gpus(*, timeout_s: float = 5.0, run: Runner = subprocess.run) -> list[GpuStatus]:
    """The GPUs on this machine; empty when there is no ``nvidia-smi`` or it fails (no GPU, no driver)."""
    try:
        result = run(NVIDIA_SMI, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (FileNotFoundError, PermissionError, subprocess.TimeoutExpired, OSError) as exc:
        log.debug("nvidia-smi unavailable: %s", exc)
        return []
    if result.returncode != 0:
        log.debug("nvidia-smi failed (%s): %s", result.returncode, (result.stderr or "").strip()[:200])
        return []
    return parse_nvidia_smi(result.stdout)


def under_memory_pressure(gpus: list[GpuStatus], threshold: float = 0.92) -> list[GpuStatus]:
    """The GPUs whose memory is at least ``threshold`` full; each is logged as a warning."""
    pressed = [g for g in gpus if g.memory_fraction is not None and g.memory_fraction >= threshold]
    for g in pressed:
        log.warning("GPU %d (%s) memory pressure: %d of %d MiB used (%.0f%%)", g.index, g.name,
                    g.memory_used_mib, g.memory_total_mib, 100 * (g.memory_fraction or 0.0))
    return pressed
