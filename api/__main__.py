"""``python -m api`` is the ``oms`` command."""

from api.cli import main

main()
