"""nvidia-smi output parsed into GPU status; a missing nvidia-smi is no GPU, not an error."""

import logging
import shutil
import subprocess

from deployments.gpu import (
    NVIDIA_SMI,
    parse_nvidia_smi,
    query_gpus,
    under_memory_pressure,
)

# Captured from `nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu,temperature.gpu
# --format=csv,noheader,nounits` on a workstation with two cards, plus a line as a GB10 (DGX Spark) prints it.
SAMPLE = """NVIDIA GeForce RTX 4090, 22870, 24564, 97, 71
NVIDIA RTX A6000, 1021, 49140, 0, 34
NVIDIA GB10, [N/A], [N/A], 12, 45
"""


def test_sample_output_parses_into_gpus():
    gpus = parse_nvidia_smi(SAMPLE)
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 4090", "NVIDIA RTX A6000", "NVIDIA GB10"]
    first = gpus[0]
    assert (first.index, first.memory_used_mib, first.memory_total_mib, first.utilization_pct,
            first.temperature_c) == (0, 22870, 24564, 97, 71)
    assert gpus[2].memory_fraction is None  # unified memory: nvidia-smi does not report it


def test_garbage_lines_are_skipped():
    assert parse_nvidia_smi("No devices were found\n\n, , , ,\n") == []


def test_memory_pressure_is_detected_and_logged(caplog):
    with caplog.at_level(logging.WARNING):
        pressed = under_memory_pressure(parse_nvidia_smi(SAMPLE), threshold=0.9)
    assert [g.name for g in pressed] == ["NVIDIA GeForce RTX 4090"]
    assert "memory pressure: 22870 of 24564 MiB" in caplog.text


def test_no_nvidia_smi_means_no_gpus():
    def absent(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "nvidia-smi")

    assert query_gpus(run=absent) == []


def test_a_failing_nvidia_smi_means_no_gpus_and_a_working_one_is_parsed():
    def failing(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 9, "", "NVIDIA-SMI has failed because it couldn't communicate")

    def working(cmd, **kwargs):
        assert cmd == NVIDIA_SMI and kwargs["timeout"] > 0
        return subprocess.CompletedProcess(cmd, 0, SAMPLE, "")

    assert query_gpus(run=failing) == []
    assert len(query_gpus(run=working)) == 3


def test_the_real_call_on_this_machine_reports_what_is_there():
    gpus = query_gpus(timeout_s=10)
    if shutil.which(NVIDIA_SMI[0]) is None:
        assert gpus == []  # no driver here: nothing, and no exception
    else:
        assert gpus and all(g.memory_total_mib > 0 for g in gpus)
