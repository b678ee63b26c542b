"""``python -m model_trainer``: the ``model-trainer`` command."""

from model_trainer.cli import main

raise SystemExit(main())
