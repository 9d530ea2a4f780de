"""Time from process start to the first Runtime API poll, for each Lambda binary.

A minimal Runtime API on 127.0.0.1 notes when GET /2018-06-01/runtime/invocation/next arrives;
the binary is started with AWS_LAMBDA_RUNTIME_API pointing at it, then killed.
Usage: lambda-startup.py BIN_DIR [RUNS]
"""
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

bin_dir, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
first_poll = threading.Event()


class Api(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            first_poll.set()
            time.sleep(0.5)  # hold the long poll; the process is killed meanwhile
        self.send_response(500)
        self.end_headers()

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
threading.Thread(target=srv.serve_forever, daemon=True).start()
env = dict(os.environ,
           AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{srv.server_port}",
           AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_VERSION="1",
           AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_REGION="eu-west-1",
           AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
           HERMES_JWT_SECRET="startup-benchmark-secret-0123456789abcdef",
           HERMES_WEBSOCKET_ENDPOINT="https://example.execute-api.eu-west-1.amazonaws.com/dev")
for name in ("authorizer", "connect", "disconnect", "send"):
    path = os.path.join(bin_dir, name)
    times = []
    for _ in range(runs):
        first_poll.clear()
        t0 = time.perf_counter()
        p = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = first_poll.wait(5)
        t1 = time.perf_counter()
        p.kill()
        p.wait()
        if not ok:
            sys.exit(f"{name}: no poll within 5 s")
        times.append((t1 - t0) * 1000)
    size = os.path.getsize(path)
    print(f"{name:11s} {size / 1e6:6.2f} MB stripped   first poll after start: "
          f"median {statistics.median(times):.2f} ms, max {max(times):.2f} ms ({runs} runs)")
srv.shutdown()
