"""How a job ends other than by succeeding: a failure a user can act on, or a hand-back."""

from __future__ import annotations


class JobFailure(Exception):
    """A failure with a code and a message for the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class HandBack(Exception):
    """The worker is stopping: the job goes back to the queue, to resume on the next worker."""
