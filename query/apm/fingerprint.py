"""Error fingerprints: which occurrences of an error are "the same issue" (pure functions, no I/O).

A fingerprint is the first 16 hex digits of the SHA-256 of ``type``, the **masked** message and the top
:data:`TOP_FRAMES` **in-app** frames of the stack trace, joined by newlines. Masking replaces the
variable parts of a message with placeholders, in this order: URLs (``<url>``), e-mail addresses
(``<email>``), UUIDs (``<uuid>``), quoted values (``<str>``), hex ids of 8+ digits or ``0x…`` (``<hex>``),
identifiers ending in digits such as ``txn_924987558`` (``txn_<n>``), and numbers (``<n>``).

Stack formats understood by :func:`top_frames` (anything else gives no frames, so only type and
message count):

* Python tracebacks — ``File "path", line N, in func`` (innermost frame last, so read bottom-up);
* Java / JVM — ``at pkg.Class.method(File.java:N)`` (innermost first);
* JavaScript (V8) — ``at func (file.js:L:C)`` or ``at file.js:L:C`` (innermost first);
* Go panics — a ``pkg.func(...)`` line followed by a tab-indented ``/path/file.go:N`` line (innermost first).

Frames that are not the application's own are skipped: ``site-packages``, ``dist-packages``, the Python
standard library (``/lib/pythonX.Y/``, ``<frozen …>``), ``node_modules``, ``node:`` internals, the Go
runtime and module cache, and ``java.``/``javax.``/``jdk.``/``sun.``/``kotlin.`` frames. Line numbers are
not part of a frame (an edit elsewhere in the file must not split an issue); a frame is ``file:function``.
"""

from __future__ import annotations

import hashlib
import re

TOP_FRAMES = 3

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE), "<url>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE), "<uuid>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\b([A-Za-z]+[_-])\d+\b"), r"\1<n>"),
    (re.compile(r"[-+]?\b\d+(?:\.\d+)?\b"), "<n>"),
)

_PY_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+, in (\S+)')
_JAVA_FRAME = re.compile(r"^\s*at ([\w$.<>]+)\.([\w$<>]+)\(([^)]*)\)")
_JS_FRAME = re.compile(r"^\s*at (?:(?:async )?([^\s(]+) \()?([^\s()]+?):\d+(?::\d+)?\)?\s*$")
_GO_FUNC = re.compile(r"^([\w./-]+\.[\w.*()]+)\(.*\)$")
_GO_FILE = re.compile(r"^\t(\S+\.go):\d+")

_LIBRARY_MARKERS = ("site-packages/", "dist-packages/", "<frozen ", "node_modules/", "node:internal",
                    "/go/pkg/mod/", "/usr/local/go/src/", "/usr/lib/go")
_PY_STDLIB = re.compile(r"/lib/python\d+(?:\.\d+)?/")
_JVM_LIBRARY = ("java.", "javax.", "jdk.", "sun.", "kotlin.", "scala.")


def mask(message: str) -> str:
    """``message`` with its variable parts replaced by placeholders (see the module doc), stripped."""
    masked = message.strip()
    for pattern, placeholder in _MASKS:
        masked = pattern.sub(placeholder, masked)
    return masked


def _library_file(path: str) -> bool:
    unix = path.replace("\\", "/")
    return any(m in unix for m in _LIBRARY_MARKERS) or bool(_PY_STDLIB.search(unix))


def _python_frames(lines: list[str]) -> list[str]:
    frames = []
    for line in reversed(lines):  # a traceback lists the innermost frame last
        m = _PY_FRAME.match(line)
        if m and not _library_file(m.group(1)):
            frames.append(f"{m.group(1)}:{m.group(2)}")
    return frames


def _java_frames(lines: list[str]) -> list[str]:
    frames = []
    for line in lines:
        m = _JAVA_FRAME.match(line)
        if m and not m.group(1).startswith(_JVM_LIBRARY):
            frames.append(f"{m.group(1)}:{m.group(2)}")
    return frames


def _js_frames(lines: list[str]) -> list[str]:
    frames = []
    for line in lines:
        m = _JS_FRAME.match(line)
        if m and not _library_file(m.group(2)):
            frames.append(f"{m.group(2)}:{m.group(1) or '<anonymous>'}")
    return frames


def _go_frames(lines: list[str]) -> list[str]:
    frames = []
    for func_line, file_line in zip(lines, lines[1:], strict=False):
        f, p = _GO_FUNC.match(func_line), _GO_FILE.match(file_line)
        if f and p and not _library_file(p.group(1)) and not f.group(1).startswith("runtime."):
            frames.append(f"{p.group(1)}:{f.group(1)}")
    return frames


def top_frames(stacktrace: str, limit: int = TOP_FRAMES) -> list[str]:
    """The innermost ``limit`` in-app frames of ``stacktrace`` as ``file:function``, innermost first."""
    lines = stacktrace.splitlines()
    for parse in (_python_frames, _java_frames, _go_frames, _js_frames):
        frames = parse(lines)
        if frames:
            return frames[:limit]
    return []


def fingerprint(exc_type: str, message: str, stacktrace: str = "") -> str:
    """The issue fingerprint (16 hex digits) of one occurrence; see the module doc for what it covers."""
    parts = [exc_type.strip(), mask(message), *top_frames(stacktrace)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def log_fingerprint(service: str, body: str) -> str:
    """The fingerprint of an error log without ``exception.*`` attributes: its service and masked body."""
    return hashlib.sha256(f"log\n{service}\n{mask(body)}".encode()).hexdigest()[:16]
