"""``python -m veil.cli``: the ``veil`` command."""

from . import main

main()
