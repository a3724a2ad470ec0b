"""Asking the human: hidden input on a terminal, one line per answer otherwise.

Design section 1: when stdin is not a terminal, each answer is one line of stdin, so
`botkit bootstrap` can be scripted. Every answer is registered as a secret before it
is returned, and reads run in a thread so the event loop never blocks on a keyboard.

That thread is a daemon thread of its own, not the loop's default executor: on Ctrl-C
`asyncio.run` cancels the waiting task and then joins the default executor, which would
hang until the person pressed Enter. An abandoned daemon thread ends with the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import typing

import click

from botkit._redact import register_secret
from botkit.errors import AuthError

__all__ = ["Prompter", "TerminalPrompter"]


class Prompter(typing.Protocol):
    """Where bootstrap gets its answers and says what it is doing."""

    async def ask(self, question: str, *, secret: bool) -> str:
        """Ask one question; secret answers are hidden and registered for redaction."""
        ...

    def say(self, text: str) -> None:
        """Tell the user something (on stderr, so stdout stays for results)."""
        ...


T = typing.TypeVar("T")


async def _in_daemon_thread(fn: typing.Callable[..., T], *args: typing.Any) -> T:
    """Run a blocking call in a daemon thread; cancelling the await abandons it."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(typing.cast(T, result))

    def target() -> None:
        try:
            result = fn(*args)
        except BaseException as error:  # handed to the awaiting task
            with contextlib.suppress(RuntimeError):  # the loop may be closed by now
                loop.call_soon_threadsafe(settle, None, error)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=target, name="botkit-prompt", daemon=True).start()
    return await future


class TerminalPrompter:
    """Prompts on a terminal, or reads one line per answer from piped stdin."""

    def __init__(self, stdin: typing.TextIO | None = None) -> None:
        self._stdin = stdin if stdin is not None else sys.stdin

    @property
    def interactive(self) -> bool:
        """Whether a person is typing (stdin is a terminal)."""
        isatty = getattr(self._stdin, "isatty", None)
        return bool(isatty and isatty())

    async def ask(self, question: str, *, secret: bool) -> str:
        answer = await _in_daemon_thread(self._ask_blocking, question, secret)
        # "resend" (asking for a new email code) is a command, not a secret: registering
        # it would mask the word everywhere.
        if secret and answer.lower() != "resend":
            register_secret(answer)
        return answer

    def _ask_blocking(self, question: str, secret: bool) -> str:
        if self.interactive:
            value = click.prompt(question, hide_input=secret, err=True, default="",
                                 show_default=False)
            return str(value).strip()
        line = self._stdin.readline()
        if not line:
            raise AuthError(
                f"no answer on standard input for: {question}",
                hint="when stdin is not a terminal, give one line per answer",
            )
        return line.rstrip("\r\n").strip()

    def say(self, text: str) -> None:
        click.echo(text, err=True)
