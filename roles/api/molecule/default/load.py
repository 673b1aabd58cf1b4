"""Send requests to the API until a stop file appears, and record every failure (run on the API
host during a deploy by side_effect.yml; verify reads the result).

    python3 load.py BASE_URL RESULT_FILE STOP_FILE
"""

import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

MAX_SECONDS = 600
# Generous: the test machines are shared and slow at times; a slow answer is not a lost one.
TIMEOUT = 60
PAUSE = 0.05


def worker(base: str, stop_file: str, stats: dict, lock: threading.Lock, post: bool) -> None:
    url = urllib.parse.urlsplit(base)
    deadline = time.monotonic() + MAX_SECONDS
    while not os.path.exists(stop_file) and time.monotonic() < deadline:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=TIMEOUT)
        try:
            if post:
                conn.request("POST", "/api/ideas", body=json.dumps({"title": "load"}),
                             headers={"Content-Type": "application/json"})
                expected = 201
            else:
                conn.request("GET", "/health")
                expected = 200
            response = conn.getresponse()
            body = response.read()
            with lock:
                stats["requests"] += 1
                if response.status != expected:
                    stats["failures"].append(f"{response.status} {body[:200]!r}")
                elif not post:
                    version = json.loads(body)["version"]
                    stats["versions"][version] = stats["versions"].get(version, 0) + 1
        except (OSError, http.client.HTTPException) as error:
            with lock:
                stats["requests"] += 1
                stats["failures"].append(f"{type(error).__name__}: {error}")
        finally:
            conn.close()
        time.sleep(PAUSE)


def main(base: str, result_file: str, stop_file: str) -> None:
    stats: dict = {"requests": 0, "failures": [], "versions": {}}
    lock = threading.Lock()
    threads = [threading.Thread(target=worker, args=(base, stop_file, stats, lock, post))
               for post in (False, False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(result_file, "w") as out:
        json.dump(stats, out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
