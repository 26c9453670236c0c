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


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Classifier caches go to a per-session folder, never the user's ~/.cache."""
    import os

    old = os.environ.get("GANHACKS_CACHE")
    os.environ["GANHACKS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("GANHACKS_CACHE", None)
    else:
        os.environ["GANHACKS_CACHE"] = old


@pytest.fixture
def evil_pickle(tmp_path):
    """write(path) puts a pickle at path that would create tmp_path/'pwned' if it were ever unpickled."""
    import pickle

    marker = tmp_path / "pwned"

    class Boom:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    def write(path):
        path.write_bytes(pickle.dumps(Boom()))
        return path

    write.marker = marker
    return write
