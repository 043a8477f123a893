"""Model environments: virtualenvs for plugins whose dependencies conflict with the main one
(``manage``), and the protocol between egbench and the environment worker (``client``, ``worker``).

``egbench_core.envs`` was one module before 0.1's subpackages: its names still resolve here, from
``egbench_core.envs.manage``, with a ``DeprecationWarning``."""

from __future__ import annotations

from egbench_core._moved import forward


def __getattr__(name: str) -> object:
    return forward(__name__, "egbench_core.envs.manage", name)
