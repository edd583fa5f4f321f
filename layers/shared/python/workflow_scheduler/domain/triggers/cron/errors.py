"""The one error of the cron package."""

from __future__ import annotations


class CronError(ValueError):
    """An expression or time zone that cannot be honoured exactly.

    ``field`` names the part at fault (``minute`` … ``day-of-week``, ``expression``, ``timezone``); the message
    starts with it and says what is wrong and, where there is one, what to write instead. A ``ValueError`` so
    that pydantic validators turn it into an ordinary validation error.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        self.message = f"{field}: {problem}"
        super().__init__(self.message)
