"""Serve the dashboard to a lecture hall: several Streamlit processes behind nginx.

One Streamlit process runs every session's script under one interpreter lock, so
it uses one core. This starts ``--workers`` processes on loopback ports and nginx
(Debian's package) in front of them on ``--port``. Sessions are sticky: nginx gives
each browser a random route cookie on its first request and hashes on it, so the
page, its websocket, uploads and downloads of one browser always reach the same
process (a Streamlit session lives in one process). All processes share one cookie
secret, so XSRF tokens validate whichever process issued them.

    make hall                      # 2 workers (one per core) on http://127.0.0.1:8080
    .venv/bin/python deploy/hall.py --workers 4 --port 8080 --address 0.0.0.0

Stop with Ctrl-C; every process is stopped with it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NGINX_CONF = """
worker_processes {nginx_workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size 25m;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    # A browser without a route cookie gets a fresh random one (the request id).
    map $cookie_metacore_route $route {{ "" $request_id; default $cookie_metacore_route; }}
    upstream streamlit {{
        hash $route consistent;
{servers}
    }}
    server {{
        listen {address}:{port};
        location / {{
            proxy_pass http://streamlit;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_read_timeout 86400;
            add_header Set-Cookie "metacore_route=$route; Path=/; HttpOnly; SameSite=Lax";
        }}
    }}
}}
"""


def _wait(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description="Several Streamlit processes behind nginx.")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--first-port", type=int, default=8601)
    args = ap.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        sys.exit("nginx is not installed: apt-get install -y nginx-light")
    tmp = Path(tempfile.mkdtemp(prefix="metacore-hall-"))
    env = {**os.environ, "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(32),
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    procs: list[subprocess.Popen] = []
    try:
        ports = [args.first_port + i for i in range(args.workers)]
        for port in ports:
            log = open(tmp / f"streamlit-{port}.log", "wb")  # noqa: SIM115 - lives with proc
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                 "--server.port", str(port), "--server.address", "127.0.0.1",
                 "--server.headless", "true"], cwd=ROOT, env=env, stdout=log, stderr=log))
        for port in ports:
            _wait(f"http://127.0.0.1:{port}/_stcore/health")
        servers = "\n".join(f"        server 127.0.0.1:{p};" for p in ports)
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(
            tmp=tmp, servers=servers, port=args.port, address=args.address,
            nginx_workers=1))
        procs.append(subprocess.Popen([nginx, "-c", str(tmp / "nginx.conf"), "-p", str(tmp),
                                       "-g", "daemon off;"], cwd=tmp))
        _wait(f"http://{args.address if args.address != '0.0.0.0' else '127.0.0.1'}:"
              f"{args.port}/_stcore/health")
        print(f"metacore hall: {args.workers} Streamlit processes behind nginx on "
              f"http://{args.address}:{args.port} (logs in {tmp})", flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.is_set() and all(p.poll() is None for p in procs):
            stop.wait(1.0)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
