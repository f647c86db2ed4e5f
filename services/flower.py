"""Celery's dashboard, Flower, for compose's monitoring profile: ``python -m services.flower``.

Flower shows every job's arguments and can revoke tasks, so it never starts without its basic
auth (FLOWER_BASIC_AUTH, ``user:password``, a password of 12 characters at least); it reads the
broker from GANFOUNDRY_REDIS_URL and listens on 5555.
"""

from __future__ import annotations

import os
import re
import sys

from services.settings import PLACEHOLDER

PORT = 5555
MIN_PASSWORD = 12
USER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # Prometheus's scrape config names it too


def auth_problem(auth: str) -> str | None:
    """What is wrong with a ``user:password`` basic auth setting, or None."""
    user, colon, password = auth.partition(":")
    if not colon or not user or not password:
        return "set GANFOUNDRY_FLOWER_AUTH to user:password in docker/.env"
    if "," in auth:
        return "one user:password only (Flower would read a comma as a second user)"
    if not USER.match(user):
        return "the user name may hold letters, digits and '_.-' only"
    if len(password) < MIN_PASSWORD or PLACEHOLDER.search(password):
        return f"the password needs {MIN_PASSWORD}+ characters and must not be a placeholder"
    return None


def main() -> int:
    auth = os.environ.get("FLOWER_BASIC_AUTH", "")
    broker = os.environ.get("GANFOUNDRY_REDIS_URL", "")
    problem = auth_problem(auth) or (None if broker else "GANFOUNDRY_REDIS_URL is not set")
    if problem:
        print(f"flower: not started: {problem}", file=sys.stderr, flush=True)
        return 2
    celery = [sys.executable, "-m", "celery", "--broker", broker]
    command = [*celery, "flower", f"--port={PORT}", "--address=0.0.0.0"]
    os.execv(command[0], command)  # Flower reads FLOWER_BASIC_AUTH itself


if __name__ == "__main__":
    sys.exit(main())
