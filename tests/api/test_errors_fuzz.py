"""Schemathesis, stateful, against ``jifen serve`` with real data: no request gets a 500, and every answer
is what /schema/openapi.json says (status code, content type, body schema).

The server is the ``live_server`` fixture (granian over loopback, on this run's database). A community
with a member of every role and one of each resource (activities, orders, vouchers, claims, wishes...)
is made through the API first (``tests.support.api_ids``); the state machine that schemathesis builds
from the document's inferred links then calls the API as the platform admin, the community's staff, a
member or nobody, with the seeded ids fed into path, query and body parameters most of the time (so the
generated requests reach the services instead of stopping at ``not_found``). The run is bounded by a
number of scenarios and a time budget (a few minutes per database). It never skips in CI. Before the
stateful part, every operation gets a few generated requests of its own (valid and invalid input), so
operations no link leads to are called too.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.api_ids import FIELD_IDS, PATH_IDS, seed_ids
from tests.support.database import need
from tests.support.world import World

try:
    import schemathesis
except ImportError:  # need() below fails the test in CI, skips it elsewhere
    schemathesis = None

EXAMPLES_PER_OPERATION = 3
"""Generated requests per operation and mode (valid input, invalid input) before the stateful part."""
SCENARIOS = 200
"""Scenarios of the state machine (Hypothesis examples, each of up to ``STEPS`` calls)."""
BUDGET_SECONDS = 150
"""The run stops starting scenarios after this long (each database's run stays within a few minutes)."""
RUNS_MAX = 30
STEPS = 8
CALLERS = ("root", "admin", "organizer", "clerk", "reviewer", "partner", "alice", None)
"""Who calls (``None``: nobody logged in)."""
REAL_ID_SHARE = 0.75
"""How often an id parameter gets a seeded real id instead of what schemathesis generated."""
EXCLUDED = r"^/api/v1/(auth/logout|me/password)$"
"""Calls that would log the run's own callers out (their tokens stay the run's credentials)."""


def _with_real_ids(case: Any, ids: dict[str, str], rng: random.Random) -> None:
    """Point the case's id parameters at the seeded resources, most of the time."""
    segments = case.operation.path.split("/")
    for i, part in enumerate(segments):
        name = part[1:-1] if part.startswith("{") else None
        key = PATH_IDS.get((segments[i - 1], name)) if name else None
        if key and case.path_parameters is not None and rng.random() < REAL_ID_SHARE:
            case.path_parameters[name] = ids[key]
    if isinstance(case.query, dict):
        for name in list(case.query):
            if name in FIELD_IDS and rng.random() < REAL_ID_SHARE:
                case.query[name] = ids[FIELD_IDS[name]]
    if isinstance(case.body, dict):
        for name in list(case.body):
            if name in FIELD_IDS and rng.random() < REAL_ID_SHARE:
                case.body[name] = ids[FIELD_IDS[name]]
            elif name == "phone" and rng.random() < 0.5:
                case.body[name] = ids["bob_phone"]
            elif name in ("pickup_code", "code") and rng.random() < 0.3:
                case.body[name] = ids["voucher_code"]


def _examples(operation: Any, mode: Any) -> list[Any]:
    """``EXAMPLES_PER_OPERATION`` generated cases of one operation."""
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings

    cases: list[Any] = []

    @given(operation.as_strategy(generation_mode=mode))
    @hsettings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def collect(case: Any) -> None:
        cases.append(case)

    collect()
    return cases


class Fuzz:
    """One run: the checks, the seeded ids, who calls, and what came back."""

    def __init__(self, url: str, world: World, ids: dict[str, str]) -> None:
        from schemathesis.checks import not_a_server_error
        from schemathesis.specs.openapi.checks import (
            content_type_conformance,
            response_schema_conformance,
            status_code_conformance,
        )

        self.url, self.world, self.ids = url, world, ids
        self.checks = [
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
        self.schema = schemathesis.openapi.from_url(url + "/schema/openapi.json").exclude(path_regex=EXCLUDED)
        self.rng = random.Random(26)
        self.statuses: dict[int, int] = {}
        self.failures: dict[str, str] = {}
        self.operations: set[str] = set()
        self.scenarios = 0

    def headers(self) -> dict[str, str]:
        caller = self.rng.choice(CALLERS)
        return dict(self.world.h[caller]) if caller else {}

    def check(self, response: Any, case: Any, headers: dict[str, str] | None) -> None:
        """Run the checks; a failure is collected (with a curl line to repeat it), not raised: Hypothesis
        would replay a failing scenario against a server whose data the first run changed, and report
        that as flaky instead of the failure."""
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        self.operations.add(case.operation.label)
        try:
            case.validate_response(response, checks=self.checks, headers=headers)
        except BaseExceptionGroup as exc:  # schemathesis raises a group of check failures
            label = f"{case.method} {case.formatted_path} -> {response.status_code}"
            self.failures.setdefault(
                label, f"{exc}"[:1500] + "\n" + case.as_curl_command(headers, base_url=self.url)
            )

    def each_operation(self) -> None:
        """Every operation on its own: generated valid and invalid input, with the seeded ids."""
        from hypothesis.errors import Unsatisfiable
        from schemathesis import GenerationMode

        for result in self.schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    cases = _examples(operation, mode)
                except Unsatisfiable:  # no invalid variant exists (an operation without input)
                    continue
                for case in cases:
                    _with_real_ids(case, self.ids, self.rng)
                    headers = self.headers()
                    self.check(case.call(base_url=self.url, headers=headers), case, headers)

    def stateful(self) -> None:
        """Scenarios along the links schemathesis infers from the document (ids a call returns feed the
        next call), with the seeded ids mixed in."""
        from hypothesis import HealthCheck, Phase
        from hypothesis import settings as hsettings
        from hypothesis.errors import Flaky

        fuzz = self

        class Machine(self.schema.as_state_machine()):  # type: ignore[misc]
            def setup(self) -> None:
                fuzz.scenarios += 1

            def before_call(self, case: Any) -> None:
                _with_real_ids(case, fuzz.ids, fuzz.rng)

            def get_call_kwargs(self, case: Any) -> dict[str, Any]:
                return {"headers": fuzz.headers()}

            def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
                fuzz.check(response, case, kwargs.get("headers"))

        # Links make the next call depend on the server's answers, and the server's data changes as the
        # run goes: Hypothesis then reports a replayed scenario as flaky and ends the run. Like
        # schemathesis's own engine, start another run then, until the scenarios or the time are used up.
        started, runs = time.monotonic(), 0
        while self.scenarios < SCENARIOS and time.monotonic() - started < BUDGET_SECONDS and runs < RUNS_MAX:
            runs += 1
            try:
                Machine.run(
                    settings=hsettings(
                        max_examples=SCENARIOS - self.scenarios,
                        stateful_step_count=STEPS,
                        deadline=None,
                        database=None,
                        phases=[Phase.generate],
                        suppress_health_check=list(HealthCheck),
                    )
                )
            except Flaky:
                continue


def _run(url: str, world: World, ids: dict[str, str]) -> Fuzz:
    fuzz = Fuzz(url, world, ids)
    fuzz.each_operation()
    fuzz.stateful()
    return fuzz


async def test_stateful_run_with_real_ids_finds_no_500_and_no_answer_the_document_does_not_describe(
    client: Any, world: World, live_server: str, engine: Any
) -> None:
    need(schemathesis is not None, "schemathesis is not installed (pip install -e '.[test]')")
    ids = await seed_ids(client, world, engine)
    with ThreadPoolExecutor(1) as pool:  # schemathesis and Hypothesis block: keep them off the test's loop
        fuzz = pool.submit(_run, live_server, world, ids).result()
    assert not fuzz.failures, "\n\n".join(f"{k}\n{v}" for k, v in fuzz.failures.items())
    statuses = fuzz.statuses
    # Every operation was called, and the run reached the services: some calls succeeded, some were
    # refused for their input or the caller's role, none failed on our side.
    assert len(fuzz.operations) >= 120, sorted(fuzz.operations)
    assert fuzz.scenarios >= 50, fuzz.scenarios
    assert sum(n for s, n in statuses.items() if 200 <= s < 300) > 100, statuses
    assert statuses.get(422, 0) > 0 and statuses.get(403, 0) > 0 and statuses.get(404, 0) > 0, statuses
    assert not any(s >= 500 for s in statuses), statuses
