"""`vto serve`'s app in a subprocess with a slowed-down real engine (crash tests kill it).

Configured entirely through VTO_* environment variables, plus SLOW_STEP_S.
"""

from __future__ import annotations

import os

import uvicorn

from tests.service.conftest import SlowEngine
from vto.service.app import create_app
from vto.service.settings import Settings
from vto.service.worker import make_engine

if __name__ == "__main__":
    settings = Settings()
    engine = SlowEngine(make_engine(settings), float(os.environ.get("SLOW_STEP_S", "0.2")))
    uvicorn.run(create_app(settings, engine), host="127.0.0.1", port=settings.port,
                log_level="warning")
