"""Loaded into the app process by ``python -m bench.profile`` (PYTHONPATH): the collector's
CPU time, which a sampling profiler of Python frames cannot see, written every half second
to ``BENCH_GC_FILE`` as JSON (thread CPU seconds in collections, collections per
generation)."""

import gc
import json
import os
import threading
import time

_path = os.environ.get("BENCH_GC_FILE")
if _path:
    _totals = {"seconds": 0.0, "collections": [0, 0, 0]}
    _started = [0.0]

    def _timed(phase, info):
        if phase == "start":
            _started[0] = time.thread_time()
        else:
            _totals["seconds"] += time.thread_time() - _started[0]
            _totals["collections"][info["generation"]] += 1

    def _write_periodically():
        while True:
            time.sleep(0.5)
            with open(_path + ".tmp", "w") as out:
                json.dump(_totals, out)
            os.replace(_path + ".tmp", _path)

    gc.callbacks.append(_timed)
    threading.Thread(target=_write_periodically, daemon=True, name="bench-gc").start()
