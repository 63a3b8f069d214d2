"""Benchmark: the clinic web app with 5,000 patients and two years of pump history each.

Builds the patients with the demo's generator (``openidds.web.demo.patient_plan``): each
patient's history is drawn, replayed once by the twin (the aspirated volumes are set from
its expected residuals) and checked once by the dose checks; the records are then
INSERTED IN BULK (not through the per-event services, which replay the timeline for every
record) and the worklist's pump-state snapshots are rebuilt by the twin
(``rebuild_snapshots``). Then, with Django's test client logged in as a nurse, it requests
the worklist page and patient charts N times each and prints p50 / p95 / max (ms) and the
SQL queries per request; and the worklist's query count in a second clinic of 20 patients,
which must be the same (no N+1).

Run (SQLite in a temporary directory, or PostgreSQL at DATABASE_URL; the database is
emptied by migrate's flush, so never point it at data you keep):

    .venv/bin/python bench/bench_web.py [--patients 5000] [--requests 30]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/openidds_bench \
        .venv/bin/python bench/bench_web.py

Target: p95 < 300 ms for both pages; the worklist's query count independent of N.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

TARGET_MS = 300.0


def _setup() -> str:
    if not os.environ.get("DATABASE_URL") and not os.environ.get("OPENIDDS_VAR_DIR"):
        os.environ["OPENIDDS_VAR_DIR"] = tempfile.mkdtemp(prefix="openidds-bench-")
    os.environ.setdefault("OPENIDDS_SECRET_KEY", "bench-" + "x" * 60)
    os.environ.pop("OPENIDDS_DEBUG", None)  # production settings: DEBUG off
    os.environ["OPENIDDS_ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openidds.web.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    return f"{connection.vendor} ({connection.settings_dict['NAME']})"


def _build(clinic: Any, users: dict[Any, Any], numbers: range, today: Any) -> dict[str, float]:
    from django.db import transaction

    from openidds.web.demo import patient_plan, validate_plan
    from openidds.web.implants.models import Implant, ImplantStatus, PumpEvent
    from openidds.web.patients.models import Patient
    from openidds.web.worklists.snapshots import rebuild_snapshots

    t = time.perf_counter()
    now = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    plans = []
    for number in numbers:
        plan = patient_plan(number, today)
        plan.fields["mrn"] = f"B-{number}"  # the demo's own MRNs may exist in the database
        validate_plan(plan, now)
        plans.append(plan)
    generated = time.perf_counter() - t
    t = time.perf_counter()
    with transaction.atomic():
        patients = Patient.objects.bulk_create(
            [Patient(clinic=clinic, **p.fields) for p in plans], batch_size=500
        )
        implants: list[Implant] = []
        for plan, patient in zip(plans, patients, strict=True):
            for k, ip in enumerate(plan.implants):
                last = k == len(plan.implants) - 1
                implants.append(
                    Implant(
                        patient=patient,
                        pump_model=ip.pump_model,
                        serial=ip.serial,
                        implanted_at=ip.implanted_at,
                        catheter_model=ip.catheter_model,
                        catheter_length_cm=ip.catheter_length_cm,
                        fluid_path_initial=ip.fluid_path_initial,
                        fixed_rate_ml_per_day=ip.fixed_rate_ml_per_day,
                        status=ImplantStatus.ACTIVE if last else ImplantStatus.REPLACED,
                        ended_at=None if last else ip.replaced_at,
                        end_reason="" if last else "replaced",
                        recorded_by=users["physician"],
                    )
                )
        implants = Implant.objects.bulk_create(implants, batch_size=500)
        events: list[PumpEvent] = []
        flat = [ip for plan in plans for ip in plan.implants]
        for implant, ip in zip(implants, flat, strict=True):
            for seq, (role, at, kind, fields) in enumerate(ip.events, start=1):
                events.append(
                    PumpEvent(
                        implant=implant,
                        kind=kind,
                        at=at,
                        fields=fields,
                        sequence=seq,
                        recorded_by=users[role.value],
                    )
                )
        PumpEvent.objects.bulk_create(events, batch_size=2000)
    inserted = time.perf_counter() - t
    t = time.perf_counter()
    rebuild_snapshots(clinic_ids=[clinic.pk])
    return {
        "patients": len(plans),
        "events": len(events),
        "generate_and_validate_s": generated,
        "bulk_insert_s": inserted,
        "snapshots_s": time.perf_counter() - t,
    }


def _measure(client: Any, urls: list[str], n: int) -> tuple[list[float], list[int]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times: list[float] = []
    queries: list[int] = []
    for i in range(n):
        url = urls[i % len(urls)]
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            response = client.get(url, secure=True)
            times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries.append(len(ctx.captured_queries))
    return times, queries


def _report(name: str, times: list[float], queries: list[int]) -> bool:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    ok = p95 < TARGET_MS
    print(
        f"  {name:<22} p50 {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  "
        f"max {max(times):7.1f} ms  queries/request {min(queries)}–{max(queries)}  "
        f"{'OK' if ok else 'OVER TARGET'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--reuse",
        metavar="DIR",
        help="measure again on the SQLite database an earlier run left in DIR (no building)",
    )
    args = parser.parse_args()
    if args.reuse:
        os.environ["OPENIDDS_VAR_DIR"] = args.reuse
    else:
        os.environ.pop("OPENIDDS_VAR_DIR", None)
    database = _setup()

    from openidds.web.accounts.models import Clinic, Membership, Role, User

    print(f"database: {database} (temporary directory: {os.environ.get('OPENIDDS_VAR_DIR')})")
    if args.reuse:
        big = Clinic.objects.get(slug="bench")
        users = {r: User.objects.get(username=f"bench-{r}") for r in ("physician", "nurse")}
        return _run(args, big, users)
    for slug in ("bench", "bench-small"):
        if Clinic.objects.filter(slug=slug).exists():
            print(f"clinic {slug!r} exists: use an empty database")
            return 2
    users = {}
    big = Clinic.objects.create(name="Bench Clinic", slug="bench")
    small = Clinic.objects.create(name="Bench Small Clinic", slug="bench-small")
    for role in (Role.PHYSICIAN, Role.NURSE):
        user = User.objects.create_user(username=f"bench-{role.value}", password="x")
        Membership.objects.create(user=user, clinic=big, role=role)
        Membership.objects.create(user=user, clinic=small, role=role)
        users[role.value] = user
    today = datetime.now(UTC).date()
    print(
        f"building {args.patients} patients (the demo's generator; each history validated "
        "once by the twin and the dose checks, then the records INSERTED IN BULK, not "
        "through the per-event services) ..."
    )
    built = _build(big, users, range(100, 100 + args.patients), today)
    print(
        f"  {built['patients']:.0f} patients, {built['events']:.0f} pump records; generate and "
        f"validate {built['generate_and_validate_s']:.1f} s, insert {built['bulk_insert_s']:.1f} "
        f"s, snapshots {built['snapshots_s']:.1f} s"
    )
    _build(small, users, range(100 + args.patients, 120 + args.patients), today)
    return _run(args, big, users)


def _run(args: Any, big: Any, users: dict[str, Any]) -> int:
    from django.test import Client

    from openidds.web.patients.models import Patient

    client = Client()
    client.force_login(users["nurse"], backend="django.contrib.auth.backends.ModelBackend")
    ids = list(Patient.objects.filter(clinic=big).values_list("pk", flat=True))
    rng = random.Random(1)
    charts = [f"/clinics/bench/patients/{pk}/" for pk in rng.sample(ids, min(len(ids), 200))]
    # warm up (imports, caches, the first connection)
    _measure(client, ["/clinics/bench/worklist/", charts[0]], 2)
    print(f"{args.requests} requests each, logged in as a nurse:")
    ok = True
    count = Patient.objects.filter(clinic=big).count()
    times, queries = _measure(client, ["/clinics/bench/worklist/"], args.requests)
    ok &= _report(f"worklist ({count})", times, queries)
    big_queries = set(queries)
    times, queries = _measure(client, ["/clinics/bench-small/worklist/"], 5)
    _report("worklist (20 patients)", times, queries)
    same = big_queries == set(queries)
    print(f"  worklist queries independent of N: {'yes' if same else 'NO'}")
    times, queries = _measure(client, charts, args.requests)
    ok &= _report("patient chart", times, queries)
    times, queries = _measure(client, ["/api/v1/worklist?clinic=bench"], args.requests)
    _report("worklist API", times, queries)
    return 0 if ok and same else 1


if __name__ == "__main__":
    sys.exit(main())
