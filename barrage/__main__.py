"""``python -m barrage ...``: the ``barrage`` command, for environments without its script
on ``PATH`` (and for launchers that start workers with ``sys.executable``)."""

from barrage.cli import main

main()
