"""The soak's clients: browsers of a few users, each with its own cookie jar, and the checks
they make on every answer.

Each user has several devices (clients). A client logs in, then reads, writes its session
keys (one at a time, or a burst of concurrent writes of different keys), changes its
password (a new session id, Django's ``update_session_auth_hash``), logs out its other
devices or logs out, at random. All clients run in one event loop, so the bookkeeping
between two ``await``\\ s is atomic and times come from one monotonic clock.

What is checked, against what a user could observe:

- no 5xx and no broken connection;
- every value a client wrote and got a 200 for reads back from its session later, unless
  that session was ended in between by the client itself or by "log out other devices" on
  another of the user's devices, one that ran while the session was alive (a session that
  ends with no such reason is a lost session, and its values lost writes);
- a 400 (``SessionInterrupted``) or a 403 (anonymous) only when such an end raced the request;
- a session that was ended (logout, the old id of a password change, every session of a
  login that finished before another device's "log out other devices" started, and every
  id such a login got later) is anonymous when its cookie is replayed, and anonymous in any
  answer to a request sent after it was ended.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from soak.stack import PASSWORD

COOKIE = "sessionid"
DEVICES_PER_USER = 3
#: Session keys a client writes (``k0``... ``k5``); a burst writes a few at once.
KEYS = 6
BURST = 4
#: How often a logged-in client does each thing (relative weights).
ACTIONS = {"read": 34, "write": 30, "burst": 8, "password": 10, "others": 6, "logout": 12}
#: Seconds a request may take: past it, a broken connection (and a failed check).
TIMEOUT = 15.0
#: At most this many failure descriptions are kept for the report.
MAX_DETAILS = 12


@dataclass
class Figures:
    """What one phase did and found."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    writes_acknowledged: int = 0
    values_verified: int = 0
    ended_by_others: int = 0
    interrupted: int = 0
    replays: int = 0
    transport_errors: int = 0
    lost_writes: int = 0
    lost_sessions: int = 0
    #: Ended sessions (cookie values) found alive: replayed, or answering their device.
    alive: set[str] = field(default_factory=set)
    unexpected: int = 0
    details: list[str] = field(default_factory=list)

    @property
    def alive_after_end(self) -> int:
        return len(self.alive)

    def found_alive(self, cookie: str, what: str) -> None:
        """An ended session answered as logged in: counted once per session id."""
        if cookie not in self.alive:
            self.alive.add(cookie)
            self.fail(what)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def fail(self, what: str) -> None:
        if len(self.details) < MAX_DETAILS:
            self.details.append(what)


@dataclass
class Answer:
    """One response as the checks need it: status, whose session, when it was sent and
    answered."""

    status: int
    user: str | None
    body: dict[str, Any]
    sent: float
    answered: float


@dataclass
class OthersEvent:
    """A "log out other devices" request: who sent it, when; ``done`` once answered."""

    issuer: Client
    sent: float
    done: float | None = None


@dataclass
class Lineage:
    """The sessions of one login: every cookie value it has had (a password change adds
    one), and when another device's "log out other devices" ended it."""

    login_sent: float
    cookies: list[str] = field(default_factory=list)
    login_done: float | None = None
    ended_at: float | None = None
    #: When the "log out other devices" that ended it was sent.
    ended_sent: float | None = None
    #: The last requests of this login (sent, answered, what, status), for the report.
    history: list[tuple[float, float, str, int]] = field(default_factory=list)

    def story(self, now: float) -> str:
        """The last requests, timed in seconds before ``now``."""
        ended = ""
        if self.ended_at is not None and self.ended_sent is not None:
            ended = (
                f"; ended by 'log out other devices' sent -{now - self.ended_sent:.3f}s "
                f"answered -{now - self.ended_at:.3f}s"
            )
        steps = ", ".join(
            f"{what} {status} sent -{now - sent:.3f}s answered -{now - answered:.3f}s"
            for sent, answered, what, status in self.history[-6:]
        )
        return f"[{steps}{ended}]"


@dataclass
class User:
    name: str
    devices: list[Client] = field(default_factory=list)
    others: list[OthersEvent] = field(default_factory=list)


class Run:
    """One phase's shared state: the figures, and a cookie-less client for replays."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.figures = Figures()
        self.loop = asyncio.get_running_loop()
        # A jar that keeps nothing: each replay sends exactly the one cookie it names.
        jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self.replayer = httpx.AsyncClient(base_url=url, cookies=jar, timeout=TIMEOUT)

    def now(self) -> float:
        return self.loop.time()

    async def bury(self, cookie: str, why: str) -> None:
        """``cookie``'s session has ended: replayed now, it must be anonymous."""
        answer = await request(self, self.replayer, "GET", "/read/", cookie=cookie)
        if answer is None or answer.status >= 500:
            return
        self.figures.replays += 1
        if answer.user is not None:
            self.figures.found_alive(
                cookie, f"session alive after {why}: replay answered {answer.body}"
            )


async def request(
    run: Run,
    http: httpx.AsyncClient,
    method: str,
    path: str,
    data: dict[str, str] | None = None,
    cookie: str | None = None,
) -> Answer | None:
    """Send one request and count it; ``None`` if the connection broke."""
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie is not None else None
    sent = run.now()
    try:
        response = await http.request(method, path, data=data, headers=headers)
    except httpx.TransportError as exc:
        run.figures.transport_errors += 1
        run.figures.fail(f"{method} {path}: {type(exc).__name__}: {exc}")
        return None
    figures = run.figures
    figures.requests += 1
    figures.statuses[response.status_code] += 1
    if response.status_code >= 500:
        figures.fail(f"{method} {path}: {response.status_code} {response.text[:200]!r}")
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return Answer(response.status_code, body.get("user"), body, sent, run.now())


class Client:
    """One device of one user: its own cookie jar, the values it expects its session to
    hold, and the login (lineage) its session comes from."""

    def __init__(self, run: Run, user: User, index: int, seed: int) -> None:
        self.run, self.user, self.index = run, user, index
        self.rng = random.Random(seed)
        self.http = httpx.AsyncClient(base_url=run.url, timeout=TIMEOUT)
        self.lineage: Lineage | None = None
        self.expected: dict[str, int] = {}
        self.counter = 0
        user.devices.append(self)

    @property
    def figures(self) -> Figures:
        return self.run.figures

    def cookie(self) -> str | None:
        return self.http.cookies.get(COOKIE)

    async def close(self) -> None:
        await self.http.aclose()

    # -- the loop ---------------------------------------------------------------------------

    async def drive(self, until: float) -> None:
        names, weights = list(ACTIONS), list(ACTIONS.values())
        while self.run.now() < until:
            if self.lineage is None:
                await self.login()
                continue
            action = self.rng.choices(names, weights)[0]
            self.figures.actions[action] += 1
            await getattr(self, action)()

    async def send(
        self, method: str, path: str, data: dict[str, str] | None = None
    ) -> Answer | None:
        """Send with this device's jar, and follow what the answer says about its session."""
        before = self.cookie()
        answer = await request(self.run, self.http, method, path, data)
        if answer is None or answer.status >= 500:
            self.forget()  # the outcome is unknown: start over on a fresh device
            return None
        lineage = self.lineage
        if lineage is not None:
            step = (answer.sent, answer.answered, f"{method} {path}", answer.status)
            lineage.history.append(step)
            del lineage.history[:-8]
        if lineage is not None and lineage.login_done is not None:
            after = self.cookie()
            if after is not None and after != before and after not in lineage.cookies:
                lineage.cookies.append(after)
                if lineage.ended_at is not None:
                    await self.run.bury(after, "an id issued to a session already ended")
            if (
                lineage.ended_at is not None
                and answer.sent > lineage.ended_at
                and answer.user == self.user.name
                and before is not None
            ):
                self.figures.found_alive(
                    before,
                    f"{self.user.name} device {self.index}: {method} {path} sent after "
                    "'log out other devices' ended its session answered logged in "
                    + lineage.story(answer.answered),
                )
        return answer

    def forget(self) -> None:
        """Drop the session and the cookie (a device that starts over)."""
        self.lineage, self.expected = None, {}
        self.http.cookies.clear()

    # -- the end of a session --------------------------------------------------------------

    def ended_by_another_device(self, answer: Answer) -> bool:
        """Whether a "log out other devices" of another of the user's devices may have
        ended this session: one answered after it was ended, or one that ran while it
        lived."""
        lineage = self.lineage
        assert lineage is not None
        if lineage.ended_at is not None:
            return True
        return any(
            event.issuer is not self
            and event.sent <= answer.answered
            and (event.done is None or event.done >= lineage.login_sent)
            for event in self.user.others
        )

    def still_logged_in(self, answer: Answer, action: str) -> bool:
        """True if the answer shows this session logged in; otherwise check that its end
        was a legitimate one, count it, and start over."""
        if answer.status == 200 and answer.user == self.user.name:
            return True
        if answer.status in (200, 400, 403) and self.ended_by_another_device(answer):
            self.figures.ended_by_others += 1
            if answer.status == 400:
                self.figures.interrupted += 1
        elif answer.status in (200, 403) and answer.user is None:
            self.figures.lost_sessions += 1
            self.figures.lost_writes += len(self.expected)
            self.figures.fail(
                f"{self.user.name} device {self.index}: session lost on {action} "
                f"({answer.status}), with {len(self.expected)} acknowledged values"
            )
        else:
            self.figures.unexpected += 1
            self.figures.fail(
                f"{self.user.name} device {self.index}: {action} answered "
                f"{answer.status} {answer.body}"
            )
        self.lineage, self.expected = None, {}
        return False

    # -- what a device does ------------------------------------------------------------------

    async def login(self) -> None:
        """Log in (over whatever cookie the jar still holds, as a browser would)."""
        self.figures.actions["login"] += 1
        self.lineage = lineage = Lineage(login_sent=self.run.now())
        data = {"username": self.user.name, "password": PASSWORD}
        answer = await self.send("POST", "/login/", data)
        if answer is None:
            return
        cookie = self.cookie()
        if answer.status != 200 or answer.user != self.user.name or cookie is None:
            self.figures.unexpected += 1
            self.figures.fail(f"{self.user.name}: login answered {answer.status} {answer.body}")
            self.forget()
            return
        lineage.login_done = answer.answered
        lineage.cookies.append(cookie)
        self.expected = {}

    async def read(self) -> None:
        answer = await self.send("GET", "/read/")
        if answer is None or not self.still_logged_in(answer, "read"):
            return
        data = answer.body.get("data", {})
        for key, value in self.expected.items():
            if data.get(key) != value:
                self.figures.lost_writes += 1
                self.figures.fail(
                    f"{self.user.name} device {self.index}: {key} reads {data.get(key)!r}, "
                    f"{value} was acknowledged"
                )
            else:
                self.figures.values_verified += 1
        unknown = sorted(set(data) - set(self.expected))
        if unknown:
            self.figures.unexpected += 1
            self.figures.fail(
                f"{self.user.name} device {self.index}: the session holds {unknown}, never "
                "written in it (another session's data)"
            )
        self.expected = dict(data)

    def next_value(self) -> int:
        self.counter += 1
        return self.counter

    async def write(self) -> None:
        key, value = f"k{self.rng.randrange(KEYS)}", self.next_value()
        answer = await self.send("POST", "/write/", {"key": key, "value": str(value)})
        if answer is not None and self.still_logged_in(answer, "write"):
            self.expected[key] = value
            self.figures.writes_acknowledged += 1

    async def burst(self) -> None:
        """Concurrent writes of different keys to this one session: none may be lost."""
        keys = self.rng.sample(range(KEYS), BURST)
        values = [self.next_value() for _ in keys]
        answers: Sequence[Answer | None] = await asyncio.gather(
            *(
                self.send("POST", "/write/", {"key": f"k{k}", "value": str(v)})
                for k, v in zip(keys, values, strict=True)
            )
        )
        if any(answer is None for answer in answers):
            self.forget()  # again: the writes still in flight may have set the cookie again
            return
        if self.lineage is None:
            return
        for answer in answers:
            if answer is None or not self.still_logged_in(answer, "burst"):
                return
        for key, value in zip(keys, values, strict=True):
            self.expected[f"k{key}"] = value
        self.figures.writes_acknowledged += len(keys)

    async def password(self) -> None:
        """A password change: the session gets a new id, the old one must be dead."""
        old = self.cookie()
        answer = await self.send("POST", "/password/")
        if answer is None or not self.still_logged_in(answer, "password change"):
            return
        new = self.cookie()
        if old is not None and new != old:
            await self.run.bury(old, "a password change (the old id)")
        else:
            self.figures.unexpected += 1
            self.figures.fail(f"{self.user.name}: a password change kept the session id")

    async def others(self) -> None:
        """Log out the user's other devices: every session of theirs logged in before this
        request was sent is over when it is answered."""
        event = OthersEvent(self, self.run.now())
        self.user.others.append(event)
        answer = await self.send("POST", "/others/")
        event.done = self.run.now()
        if answer is None or not self.still_logged_in(answer, "log out other devices"):
            return
        ended: list[str] = []
        for device in self.user.devices:  # all marked at once, before any await
            lineage = device.lineage
            if device is self or lineage is None or lineage.ended_at is not None:
                continue
            if lineage.login_done is not None and lineage.login_done < event.sent:
                lineage.ended_at, lineage.ended_sent = event.done, event.sent
                ended += lineage.cookies
        for cookie in ended:
            await self.run.bury(cookie, "'log out other devices'")

    async def logout(self) -> None:
        old = self.cookie()
        answer = await self.send("POST", "/logout/")
        if answer is None:
            return
        if answer.status == 200 and answer.user is None:
            if old is not None:
                await self.run.bury(old, "logout")
            self.lineage, self.expected = None, {}
        else:
            self.still_logged_in(answer, "logout")


async def soak(url: str, users: Sequence[str], clients: int, seconds: float) -> Figures:
    """Drive ``clients`` devices of ``users`` against ``url`` for ``seconds``."""
    run = Run(url)
    people = [User(name) for name in users]
    devices = [Client(run, people[i % len(people)], i, seed=i) for i in range(clients)]
    until = run.now() + seconds
    try:
        await asyncio.gather(*(device.drive(until) for device in devices))
    finally:
        await asyncio.gather(run.replayer.aclose(), *(device.close() for device in devices))
    return run.figures
