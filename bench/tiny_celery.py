"""The tiny job of bench/tiny.ts done by Celery, as the original service did it.

Worker:    python3 -m celery -A tiny_celery worker --pool prefork --concurrency 2
Submitter: python3 tiny_celery.py submit   (stdin: PING -> PONG, GO -> RESULT {json}, STOP)

The task does the same work as ncr-upload's embedded defaults: list the job's
files in the storage folder, copy them to a private temp folder, zip them
(stored) with sha256 computed while writing, check every entry's CRC (the
built-in validator), deliver to the outbox as `.partial` then rename, and
remove the temp folder. The state is kept in the Redis result backend
(started, one progress update, result), like the original service's status.
"""

import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import zipfile

from celery import Celery
from celery.result import ResultSet

REDIS = os.environ.get("CELERY_BENCH_REDIS", "redis://127.0.0.1:6379")
DATA = os.environ.get("CELERY_BENCH_DATA", "./data")

app = Celery("tiny_celery", broker=REDIS, backend=REDIS)
app.conf.update(
    task_track_started=True,
    worker_max_tasks_per_child=1000,
    worker_max_memory_per_child=200000,
    result_expires=7 * 24 * 3600,
    broker_connection_retry_on_startup=True,
)


class HashingWriter:
    """A file object that hashes and counts what is written through it."""

    def __init__(self, path):
        self.file = open(path, "wb")
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.hash.update(data)
        self.size += len(data)
        return self.file.write(data)

    def tell(self):
        return self.file.tell()

    def seek(self, *args):
        return self.file.seek(*args)

    def flush(self):
        return self.file.flush()

    def close(self):
        self.file.close()


@app.task(bind=True)
def process_job(self, job):
    prefix = os.path.join(DATA, "storage", job["campaign"], job["username"], job["job_id"])
    work = tempfile.mkdtemp(prefix="task-", dir=os.path.join(DATA, "work-celery"))
    try:
        files = []
        for folder, _dirs, names in os.walk(prefix):
            for name in sorted(names):
                full = os.path.join(folder, name)
                files.append((os.path.relpath(full, prefix), full))
        files.sort()
        self.update_state(state="PROGRESS", meta={"stage": "fetch", "files_total": len(files)})
        local = []
        for relative, full in files:
            target = os.path.join(work, "files", relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(full, target)
            local.append((relative, target))
        archive = os.path.join(work, "archive.zip")
        writer = HashingWriter(archive)
        with zipfile.ZipFile(writer, "w", zipfile.ZIP_STORED) as zf:
            for relative, target in local:
                zf.write(target, relative)
        writer.close()
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
        if bad is not None:
            raise ValueError(f"corrupt entry {bad}")
        remote = os.path.join(DATA, "outbox-celery", job["campaign"], job["username"], job["job_id"] + ".zip")
        os.makedirs(os.path.dirname(remote), exist_ok=True)
        partial = remote + ".partial"
        with open(archive, "rb") as source, open(partial, "wb") as out:
            shutil.copyfileobj(source, out)
            out.flush()
            os.fsync(out.fileno())
        os.rename(partial, remote)
        return {"remote_path": remote, "size": writer.size, "sha256": writer.hash.hexdigest(), "files": len(local)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


@app.task
def ping():
    return "pong"


def tiny_job(index):
    return {"job_id": f"tiny-{index:05d}", "username": "bench", "campaign": "tiny", "row_id": index}


def submit_and_wait(count):
    os.makedirs(os.path.join(DATA, "work-celery"), exist_ok=True)
    started = time.perf_counter()
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    results = [process_job.delay(tiny_job(index)) for index in range(count)]
    # join_native reads the results in bulk (GET many) as they arrive, as a client of many jobs would.
    ResultSet(results).join_native(timeout=600, propagate=False)
    states = {}
    for result in results:
        state = "succeeded" if result.successful() else "failed"
        states[state] = states.get(state, 0) + 1
    seconds = time.perf_counter() - started
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    cpu_ms = ((cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)) * 1000
    return {"jobs": count, "seconds": seconds, "cpu_ms": cpu_ms, "states": states}


if __name__ == "__main__" and sys.argv[1:] == ["submit"]:
    count = int(os.environ.get("BENCH_JOBS", "2000"))
    print("READY", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "PING":
            ping.delay().get(timeout=120)
            print("PONG", flush=True)
        elif command == "GO":
            print("RESULT " + json.dumps(submit_and_wait(count)), flush=True)
        elif command == "STOP":
            break
