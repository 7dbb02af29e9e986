"""A process's sink for an optional integration (traces, lineage): made once, the first time it
is asked for with the integration on, from a module loaded by name — so that a process with the
integration off never imports its library. Without the library installed: a warning, and no
sink."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: the values of an on/off switch variable (``MAESTRO_OTEL``, ``MAESTRO_OPENLINEAGE``)
ON = frozenset({"1", "true", "on", "yes"})
OFF = frozenset({"0", "false", "off", "no"})


def switch(environ: Mapping[str, str], name: str) -> bool | None:
    """The switch ``name`` in ``environ``: True on, False off, None unset (or unknown)."""
    value = environ.get(name, "").strip().lower()
    return True if value in ON else False if value in OFF else None


class LazySink(Generic[T]):
    """The sink ``module.from_environment()`` makes, made once per process."""

    def __init__(self, module: str, logger: logging.Logger, missing: str) -> None:
        self.module = module
        self._logger = logger
        #: the warning when the module cannot be imported (``%s``: the missing module's name)
        self._missing = missing
        self._lock = threading.Lock()
        self._made: list[T | None] = []

    def get(self) -> T | None:
        """The sink, made now if it was not yet."""
        with self._lock:
            if not self._made:
                self._made.append(self._load())
            return self._made[0]

    def made(self) -> T | None:
        """The sink if one was made, without making it."""
        with self._lock:
            return self._made[0] if self._made else None

    def _load(self) -> T | None:
        try:
            module: Any = importlib.import_module(self.module)
        except ImportError as exc:
            self._logger.warning(self._missing, exc.name)
            return None
        made: T = module.from_environment()
        return made
