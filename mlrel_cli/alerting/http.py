"""POST with a timeout and a few retries with backoff; the outcome is a record, never an exception.

Only transient failures are retried (no answer, a timeout, 429, 5xx): a 4xx
means the request itself is wrong and would fail again. Errors name the
failure, never the URL, which may be the secret.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from mlrel_cli import __version__

BACKOFF_S = 0.2


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    attempts: int
    status_code: int | None
    error: str | None
    seconds: float


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, retries: int) -> Outcome:
    def send() -> int:
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("User-Agent", f"mlrel/{__version__}")
        for name, value in headers.items():
            request.add_header(name, value)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return int(response.status)

    return with_retries(send, retries)


def with_retries(send: Callable[[], int | None], retries: int) -> Outcome:
    """Call ``send`` up to 1 + retries times, waiting 0.2 s, 0.4 s, ... between tries."""
    start = time.monotonic()
    status: int | None = None
    error: str | None = None
    for attempt in range(1, retries + 2):
        try:
            status = send()
            return Outcome(True, attempt, status, None, time.monotonic() - start)
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code} {exc.reason}"
            if exc.code != 429 and exc.code < 500:
                break
        except urllib.error.URLError as exc:
            status, error = None, _reason(exc.reason)
        except TimeoutError:
            status, error = None, "timed out"
        except OSError as exc:
            status, error = None, exc.strerror or type(exc).__name__
        except Exception as exc:  # a notification must never change the verdict's exit code
            # only the type: the message of, say, http.client.InvalidURL quotes the URL, which may be the secret
            status, error = None, f"could not send: {type(exc).__name__}"
            break
        if attempt <= retries:
            time.sleep(BACKOFF_S * 2 ** (attempt - 1))
    return Outcome(False, attempt, status, error, time.monotonic() - start)


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError):
        return reason.strerror or type(reason).__name__
    return str(reason)
