"""Allow ``python -m pos_pipeline``."""

from pos_pipeline.cli.main import main

main()
