"""Absurd Control's pytest plugin: run workflows in tests, in-process, without sleeping.

Installed with the project and registered under the ``pytest11`` entry point
``absurd_control``, so any pytest run with pytest-django gets the ``absurd`` fixture
(``plugin.py``); nothing else changes unless a test asks for it. What the fixture
returns is ``AbsurdTestClient`` (``client.py``). docs/authoring.md shows it in use.

Names are resolved on first use: pytest imports this package before Django is set up.
"""

__all__ = ["AbsurdTestClient", "DrainTimeout", "NothingToRun", "Ran", "TaskFailed"]


def __getattr__(name: str):
    if name in __all__:
        from absurd_control_pytest import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
