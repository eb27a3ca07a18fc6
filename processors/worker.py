"""`python -m processors.worker`: one processor worker (settings from VANTHU_* variables)."""

from __future__ import annotations

import logging
import sys

import faust

from processors.app import create_app
from processors.config import ProcessorConfig
from processors.documents import collect_less


def main() -> int:
    config = ProcessorConfig.from_env()
    app, _ = create_app(config)
    collect_less()
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    worker = faust.Worker(app, loglevel="INFO", quiet=True)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
