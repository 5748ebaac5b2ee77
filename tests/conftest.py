"""Suite-wide options: ``--soak`` enables the long runs (tests marked ``soak``).

The suite runs on every distribution of the repository, the developer tooling included; an
environment set up before it was one (``oceanfed-devnet``) stops with one line saying so.
"""

from __future__ import annotations

import importlib.util

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if importlib.util.find_spec("oceanfed_devnet") is None:
        pytest.exit("oceanfed-devnet (plugins/devnet) is not installed: run scripts/setup.sh "
                    "(or pip install -e ./plugins/devnet)", returncode=4)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", default=False,
                     help="run the long soak variants (simulator schedules, process chaos)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak run: use --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> bool:
    """Whether ``--soak`` was given."""
    return bool(request.config.getoption("--soak"))
