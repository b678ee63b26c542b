import os

import torch

from model_trainer.core.config.resources import (
    DATA_WORKERS,
    measure_resources,
    memory_bytes,
    resources,
)


def test_resources_in_whole_mebibytes_with_no_loader_workers() -> None:
    got = resources(cpu_count=8, memory_bytes=3 * 2**20 + 5, threads=4)
    assert got == {"cpu_cores": 8, "memory_mb": 3, "optimal_threads": 4, "optimal_workers": 0}
    unknown = resources(cpu_count=None, memory_bytes=None, threads=1)
    assert (unknown["cpu_cores"], unknown["memory_mb"]) == (None, None)


def test_memory_is_unknown_without_page_counts() -> None:
    assert memory_bytes({}) is None
    assert memory_bytes({"SC_PAGE_SIZE": os.sysconf_names["SC_PAGE_SIZE"]}) is None


def test_this_machine_is_measured() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    measured = measure_resources()
    torch.set_num_threads(before)
    page = os.sysconf("SC_PAGE_SIZE")
    assert measured == {
        "cpu_cores": os.cpu_count(),
        "memory_mb": page * os.sysconf("SC_PHYS_PAGES") // 2**20,
        "optimal_threads": 1,
        "optimal_workers": DATA_WORKERS,
    }
    memory_mb = measured["memory_mb"]
    assert memory_mb is not None
    assert memory_mb > 0
