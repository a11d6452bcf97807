"""A worker process for the job tests: ``python -m tests.pg.step_worker DATABASE_URL`` runs
``PortabilityJobs.run_worker`` (settings from ``RINGVAULT_WORKER_*``) with a step runner that writes what it does
into the table ``step_log`` of the same database, so a test can kill this process mid-step and count how often each
step started and finished. Step ``slow``: started, then ``SLOW_STEP_S`` seconds, then finished; step ``fail``:
raises the first time for an arg, succeeds the next; any other step finishes at once."""

from __future__ import annotations

import asyncio
import os
import sys

import psycopg

from ringvault.server.portability_jobs import PortabilityJobs, WorkerSettings, conninfo

SLOW_STEP_S = float(os.environ.get("SLOW_STEP_S", "30"))
LOG_TABLE = """CREATE TABLE IF NOT EXISTS step_log (
    id bigserial PRIMARY KEY, step text NOT NULL, arg text NOT NULL, what text NOT NULL, pid int NOT NULL,
    at timestamptz NOT NULL DEFAULT now())"""


async def note(dsn: str, step: str, arg: str, what: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO step_log (step, arg, what, pid) VALUES (%s, %s, %s, %s)", (step, arg, what, os.getpid())
        )


async def count(dsn: str, step: str, arg: str, what: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        row = await (
            await conn.execute(
                "SELECT count(*) FROM step_log WHERE step = %s AND arg = %s AND what = %s", (step, arg, what)
            )
        ).fetchone()
    return int(row[0]) if row else 0


async def main(database_url: str) -> None:
    dsn = conninfo(database_url)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(LOG_TABLE)

    async def run_step(step: str, arg: str) -> None:
        await note(dsn, step, arg, "started")
        if step == "slow":
            await asyncio.sleep(SLOW_STEP_S)
        if step == "fail" and await count(dsn, step, arg, "started") == 1:
            raise RuntimeError(f"the first run of {arg} fails")
        await note(dsn, step, arg, "finished")

    jobs = PortabilityJobs(database_url)
    await jobs.open()
    try:
        print(f"worker {os.getpid()} ready", flush=True)
        await jobs.run_worker(run_step, WorkerSettings.from_env())
    finally:
        await jobs.aclose()
    print(f"worker {os.getpid()} stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
