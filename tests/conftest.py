from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _small_threads():
    # Keep tests predictable on 2-core machines and leave the other core to pytest itself.
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""
    from ganhacks.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
