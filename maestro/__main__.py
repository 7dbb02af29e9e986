"""``python -m maestro`` is the ``maestro`` command."""

from maestro.cli import main

main()
