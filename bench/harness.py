"""Benchmark harness shared by bench/ingest.py and bench/query.py: a real `vigil serve` subprocess on
free ports, RSS sampling, the embedded store on disk, tables of figures."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `python bench/ingest.py` puts bench/ (not the root) on sys.path
    sys.path.insert(0, str(REPO_ROOT))

import psutil  # noqa: E402

MIB = 1024 * 1024


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100]; NaN for an empty sequence."""
    if not values:
        return math.nan
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def fmt_num(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    """Two-column table with a title line."""
    width = max((len(k) for k, _ in rows), default=10)
    vwidth = max((len(v) for _, v in rows), default=10)
    line = "-" * (width + vwidth + 7)
    print(f"\n{title}\n{line}")
    for key, value in rows:
        print(f"| {key.ljust(width)} | {value.rjust(vwidth)} |")
    print(line)


def _set_pdeathsig() -> None:
    """In the child before exec: get SIGTERM when the benchmark dies, so no server is left behind."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so ``finally`` blocks stop the server and the senders."""

    def _raise(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise)


# --------------------------------------------------------------------------- the server process


@dataclass
class ServerPorts:
    host: str
    api: int
    grpc: int
    http: int

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.api}"


class ServerProcess:
    """``python -m vigil.cli serve`` as a subprocess on free ports; a context manager that stops it.

    stdout/stderr go to ``log_path``; :meth:`log_tail` shows the end of it when something fails.
    """

    def __init__(self, data_dir: Path, log_path: Path, host: str = "127.0.0.1",
                 extra_args: Sequence[str] = (), env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.ports = ServerPorts(host, free_port(host), free_port(host), free_port(host))
        self.extra_args = list(extra_args)
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self._log: Any = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        p = self.ports
        return [
            sys.executable, "-m", "vigil.cli", "serve",
            "--data-dir", str(self.data_dir), "--host", p.host, "--port", str(p.api),
            "--otlp-grpc-port", str(p.grpc), "--otlp-http-port", str(p.http), *self.extra_args,
        ]

    def start(self, timeout: float) -> float:
        """Start the server and wait for ``GET /api/health`` = 200; return the seconds it took."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.command(), cwd=str(REPO_ROOT), stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, start_new_session=True, preexec_fn=_set_pdeathsig,
        )
        deadline = t0 + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(f"server exited with status {code} during startup\n{self.log_tail()}")
            try:
                status, body = http_get(self.ports.host, self.ports.api, "/api/health", timeout=2.0)
                if status == 200:
                    return time.monotonic() - t0
                last_error = f"HTTP {status}: {body[:200]!r}"
            except OSError as exc:
                last_error = repr(exc)
            time.sleep(0.2)
        raise RuntimeError(f"server not healthy after {timeout:.0f}s ({last_error})\n{self.log_tail()}")

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait; SIGKILL the server's process group if it does not exit in ``timeout``."""
        if self.proc is None:
            return self.exit_code
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                print(f"! server did not exit {timeout:.0f}s after SIGTERM; killing its process group",
                      file=sys.stderr)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # stragglers of the server's own session (e.g. an embedded postgres it failed to stop)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, 0)
            print(f"! processes of the server's session outlived it (pgid {self.proc.pid}); sending SIGTERM",
                  file=sys.stderr)
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.exit_code = self.proc.returncode
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.exit_code

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return f"--- last {lines} lines of {self.log_path} ---\n" + "\n".join(text[-lines:])

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http_get(host: str, port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def add_server_args(ap: argparse.ArgumentParser, startup_timeout: float) -> None:
    """The arguments every benchmark that starts its own ``vigil serve`` takes."""
    ap.add_argument("--data-dir", help="server data dir (must be empty; default: a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--startup-timeout", type=float, default=startup_timeout)
    ap.add_argument("--shutdown-timeout", type=float, default=120.0)
    ap.add_argument("--server-arg", action="append", default=[], help="extra argument for `vigil serve`")


class RssSampler(threading.Thread):
    """Samples RSS and CPU time of a process tree every ``interval`` seconds.

    The tree is the server and all its descendants, plus the process tree whose pid is the first line
    of ``pid_file`` when it exists: embedded PostgreSQL is started with ``pg_ctl`` and daemonizes, so
    its postmaster is not a descendant of the server (``<data-dir>/pg/postmaster.pid``).
    """

    def __init__(self, pid: int, interval: float = 0.1, pid_file: Path | None = None) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.pid = pid
        self.interval = interval
        self.pid_file = pid_file
        # (monotonic, total rss, server-process rss, rss of the pid_file tree)
        self.samples: list[tuple[float, int, int, int]] = []
        self._stop_event = threading.Event()
        self._proc = psutil.Process(pid)
        self._known: dict[int, psutil.Process] = {}
        self._extra_pid: int | None = None

    def _extra_root(self) -> psutil.Process | None:
        if self.pid_file is None:
            return None
        try:
            pid = int(self.pid_file.read_text().split("\n", 1)[0].strip())
        except (OSError, ValueError):
            return None
        self._extra_pid = pid
        return self._known.get(pid) or _process(pid)

    def _tree(self) -> list[tuple[psutil.Process, bool]]:
        """[(process, belongs to the pid_file tree)]; Process objects are reused across samples."""
        roots: list[tuple[psutil.Process, bool]] = [(self._proc, False)]
        extra = self._extra_root()
        if extra is not None and extra.pid != self.pid:
            roots.append((extra, True))
        out: list[tuple[psutil.Process, bool]] = []
        seen: set[int] = set()
        for root, is_extra in roots:
            try:
                members = [root, *root.children(recursive=True)]
            except psutil.Error:
                members = [root]
            for p in members:
                if p.pid in seen:
                    continue
                seen.add(p.pid)
                p = self._known.setdefault(p.pid, p)
                out.append((p, is_extra or p.pid == self._extra_pid))
        return out

    def sample(self) -> tuple[int, int, int]:
        """(total rss, server-process rss, pid_file-tree rss) in bytes."""
        total = main = extra = 0
        for p, is_extra in self._tree():
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            if p.pid == self.pid:
                main = rss
            if is_extra:
                extra += rss
        return total, main, extra

    def cpu_seconds(self) -> float:
        """User+system CPU of the tree (live processes, plus reaped children of the server)."""
        total = 0.0
        for p, _ in self._tree():
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
            if p.pid == self.pid:
                total += getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            total, main, extra = self.sample()
            if total:
                self.samples.append((time.monotonic(), total, main, extra))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=2)

    def peak(self, start: float = 0.0, end: float = math.inf) -> tuple[int, int, int]:
        """Peak (total, server process, pid_file tree) RSS over samples taken in [start, end]."""
        window = [s for s in self.samples if start <= s[0] <= end]
        if not window:
            return 0, 0, 0
        return max(s[1] for s in window), max(s[2] for s in window), max(s[3] for s in window)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


# --------------------------------------------------------------------------- payloads



def store_dsn(data_dir: Path) -> str:
    """The columnar store the server wrote to: ``VIGIL_CLICKHOUSE_URL`` or the embedded chDB path."""
    return os.environ.get("VIGIL_CLICKHOUSE_URL") or f"chdb://{data_dir.resolve() / 'chdb'}"


def open_store(dsn: str) -> Any:
    import clickhouse_connect

    if dsn.startswith("chdb:"):
        return clickhouse_connect.get_client(dsn=dsn)
    return clickhouse_connect.get_client(dsn=dsn, compress=False, send_receive_timeout=600)


def store_row_count(dsn: str) -> int:
    client = open_store(dsn)
    try:
        return int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
    except Exception:  # noqa: BLE001 - table not there yet
        return 0


def measure_store(dsn: str, optimize: bool = True) -> dict[str, Any]:
    """OPTIMIZE FINAL, then row count and on-disk bytes of ``otel_traces`` (and the trace-id index)."""
    client = open_store(dsn)
    t0 = time.perf_counter()
    if optimize:
        client.command("OPTIMIZE TABLE otel_traces FINAL")
    optimize_s = time.perf_counter() - t0
    rows = int(client.query("SELECT count() FROM otel_traces").result_rows[0][0])
    parts = client.query(
        "SELECT table, sum(bytes_on_disk), sum(data_uncompressed_bytes), count() FROM system.parts "
        "WHERE active AND database = currentDatabase() "
        "AND table IN ('otel_traces', 'otel_traces_trace_id_ts') GROUP BY table"
    ).result_rows
    by_table = {str(t): (int(b), int(u), int(n)) for t, b, u, n in parts}
    traces_bytes, traces_raw, traces_parts = by_table.get("otel_traces", (0, 0, 0))
    index_bytes = by_table.get("otel_traces_trace_id_ts", (0, 0, 0))[0]
    return {
        "rows": rows,
        "bytes_on_disk": traces_bytes,
        "uncompressed_bytes": traces_raw,
        "active_parts": traces_parts,
        "bytes_per_span": traces_bytes / rows if rows else math.nan,
        "trace_id_index_bytes": index_bytes,
        "bytes_per_span_with_index": (traces_bytes + index_bytes) / rows if rows else math.nan,
        "optimize_seconds": optimize_s,
    }


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def work_dir(data_dir: str | None, keep: bool, prefix: str, reuse: bool = False) -> Iterator[tuple[Path, Path]]:
    """(data dir, server log path); a fresh temporary directory unless ``data_dir`` is given.

    With ``reuse``, a non-empty ``data_dir`` is used as it is (a store an earlier run kept).
    """
    if data_dir:
        path = Path(data_dir).resolve()
        if path.exists() and any(path.iterdir()) and not reuse:
            raise SystemExit(f"--data-dir {path} is not empty; the benchmark needs a fresh store")
        path.mkdir(parents=True, exist_ok=True)
        yield path, path.parent / f"{path.name}-server.log"
        return
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root / "data", root / "server.log"
    finally:
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


