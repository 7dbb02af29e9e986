"""Import of Netflix Maestro JSON definitions (docs/maestro.md).

:func:`translate` turns one Maestro definition (the parsed JSON) into our YAML definition (a
dict) plus a :class:`~maestro.compat.maestro_json.report.Report`; :func:`is_maestro` recognises
one (a top-level ``workflow`` object).
"""

from maestro.compat.maestro_json.reading import is_maestro, translate
from maestro.compat.maestro_json.report import Report

__all__ = ["Report", "is_maestro", "translate"]
