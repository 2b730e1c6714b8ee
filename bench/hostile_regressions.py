"""Issue 9, measured: every hostile-input row run against the pre-fix commit and the current tree.

    nice -n 10 .venv/bin/python bench/hostile_regressions.py                  # (a) before/after table
    nice -n 10 .venv/bin/python bench/hostile_regressions.py --rows 3,5       # some rows only
    nice -n 10 .venv/bin/python bench/hostile_regressions.py --full           # (b) full default scans

(a) For each row of issue 9's table the hostile input is built with the shared factory
(tests/hostile_factory.py) and handed to the CLI (or, for library-level rows, the function) of
the pre-fix commit 3b998d3 (`--baseline`, a detached worktree; default /tmp/baseline) with its
own flags, and to the current tree's. Each run is a child process under `/usr/bin/time -v`, a hard
wall-time bound (`timeout -s KILL`: a SIGTERM would let the current CLI stop politely and look
bounded when it is not) and an address-space cap; what is recorded is the exit code, wall time,
peak RSS, the last stderr line and, where a row is about reading what must not be read, what the
process opened (strace) or what the loopback server was asked for. A judge per side says whether
"before" misbehaved (the row's defect shows) and whether "after" is right (clear error, the
documented exit code, bounded). A row whose "before" does not misbehave is printed as NOT SHOWN:
its regression test would not have caught the defect either.

(b) `--full` runs `liveinspect scan INPUT --out DIR` with the default analyzers (whatever a plain
scan runs) on one input of each hostile family, one at a time, and prints exit, wall and peak RSS
against the 3 GB bound and the family's time bound.

Both children run with PYTHONPYCACHEPREFIX outside the trees, so the baseline worktree is never
written to, and from a scratch folder as their working directory (`python -m` puts the working
directory first on sys.path: run from the repository it would import the current package).
Not collected by pytest (bench/ is not a test folder); it takes a few minutes of CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import hostile_factory as hf  # noqa: E402 - the shared builders live in tests/
from media_factory import make_png_header, make_video, truncate  # noqa: E402

PY = sys.executable
TIME = "/usr/bin/time"
RSS_LIMIT_MB = 3 * 1024           # issue 9: a full scan of any hostile input stays under 3 GB
AS_LIMIT = 12 << 30               # a safety net only (torch reserves far more than it touches)
TITLE = "全网第一"
_STATE: dict[str, str] = {}       # the loopback servers' base URLs while they run


# -- running one child -----------------------------------------------------------------------------

@dataclass
class Run:
    code: int | None                 # exit status; -N for "terminated by signal N"
    wall_s: float
    rss_mb: float
    stdout: str
    stderr: str
    killed: bool                     # ran into the wall-time bound
    opened: list[str] = field(default_factory=list)   # strace lines of interest
    requests: list[str] = field(default_factory=list)  # paths the loopback servers were asked for
    out: Path | None = None

    @property
    def last(self) -> str:
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr

    def report(self) -> dict | None:
        path = self.out / "report.json" if self.out else None
        if path is None or not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            return {"_invalid": True}

    def exit_text(self) -> str:
        if self.killed:
            return "killed"
        return f"sig{-self.code}" if self.code is not None and self.code < 0 else str(self.code)


def _time_fields(path: Path) -> tuple[int | None, float, float]:
    text = path.read_text() if path.is_file() else ""
    status = re.search(r"Exit status: (\d+)", text)
    signalled = re.search(r"Command terminated by signal (\d+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    seconds = 0.0
    if wall:
        for part in wall.group(1).split(":"):
            seconds = seconds * 60 + float(part)
    code = -int(signalled.group(1)) if signalled else int(status.group(1)) if status else None
    return code, seconds, int(rss.group(1)) / 1024 if rss else float("nan")


def _descendant(pid: int, depth: int) -> int | None:
    """The first child `depth` levels below `pid` (time -> timeout -> [strace ->] python)."""
    for _ in range(depth):
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return None
        if not children:
            return None
        pid = int(children[0])
    return pid


def run(argv: list[str], *, tree: Path, cwd: Path, bound: float, stdin: bytes | None = None,
        strace: str | None = None, send: tuple[float, int] | None = None, fsize: int | None = None,
        as_limit: int = AS_LIMIT, out: Path | None = None, module: bool = True) -> Run:
    """Run `python -m liveinspect ARGV` (or `python ARGV` when not `module`) from `tree`."""
    timing = cwd / f".time-{time.monotonic_ns()}"
    trace = cwd / f".strace-{time.monotonic_ns()}"
    cache = Path(tempfile.gettempdir()) / "h9b-pycache" / tree.name
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONPYCACHEPREFIX": str(cache),
           "PYTHONUNBUFFERED": "1"}
    command = [TIME, "-v", "-o", str(timing), "timeout", "-s", "KILL", str(bound)]
    if strace:
        command += ["strace", "-f", "-qq", "-e", f"trace={strace}", "-o", str(trace)]
    command += [PY, "-m", "liveinspect", *argv] if module else [PY, *argv]

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    before = len(hf._Handler.requests)
    started = time.monotonic()
    child = subprocess.Popen(command, cwd=cwd, env=env, preexec_fn=limits,
                             stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if send is not None:
        def signal_later() -> None:
            time.sleep(send[0])
            target = _descendant(child.pid, 3 if strace else 2)
            if target is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(target, send[1])
        threading.Thread(target=signal_later, daemon=True).start()
    stdout, stderr = child.communicate(stdin, timeout=bound + 60)
    elapsed = time.monotonic() - started
    code, wall, rss = _time_fields(timing)
    # timeout kills its process group (itself included) at the bound: time sees signal 9 or 137.
    killed = code in (137, -9) and (wall or elapsed) >= bound - 1
    opened = trace.read_text(errors="replace").splitlines() if trace.is_file() else []
    return Run(code, wall or elapsed, rss, stdout.decode("utf-8", "replace"),
               stderr.decode("utf-8", "replace"), killed, opened,
               hf._Handler.requests[before:], out)


# -- cases ----------------------------------------------------------------------------------------

Judge = Callable[[Run], tuple[bool, str]]


@dataclass
class Side:
    argv: list[str]
    judge: Judge
    bound: float = 60.0
    stdin: bytes | None = None
    strace: str | None = None
    send: tuple[float, int] | None = None
    fsize: int | None = None
    as_limit: int = AS_LIMIT
    out: Path | None = None
    module: bool = True
    setup: Callable[[], None] | None = None   # called right before the run (fresh state)


@dataclass
class Case:
    row: str
    name: str
    before: Side
    after: Side
    context: Callable[[], contextlib.AbstractContextManager] | None = None   # e.g. a server


def _scan(source: str, out: Path, *extra: str, analyzers: str | None = "none") -> list[str]:
    argv = ["scan", source, "--out", str(out), "--no-progress", *extra]
    return argv + (["--analyzers", analyzers] if analyzers is not None else [])


def _secret_reads(r: Run) -> list[str]:
    """Successful opens (or connects) of the secret files in an strace log."""
    hits = []
    for line in r.opened:
        if re.search(r"secret/(secret\.ts|init\.mp4)", line) and not re.search(r"= -1 ", line):
            hits.append(line)
    return hits


def _findings(r: Run) -> list[dict]:
    report = r.report()
    return report.get("findings", []) if report else []


def _strict_json_lines(text: str) -> str | None:
    """The first stdout line that is not strict JSON (NaN/Infinity included), or None."""
    def refuse(name: str):
        raise ValueError(name)
    for line in text.splitlines():
        try:
            json.loads(line, parse_constant=refuse)
        except ValueError:
            return line[:80]
    return None


def _bounded_error(r: Run, code: int, *words: str) -> tuple[bool, str]:
    ok = r.code == code and not r.killed and not r.traceback and all(w in r.stderr for w in words)
    return ok, f"exit {r.exit_text()}: {r.last[:110]}"


def _cut_faststart_mp4(ws: Path) -> Path:
    """A 6 s MP4 with its index first (faststart), cut in half: it opens, then ends early."""
    faststart = ws / "faststart.mp4"
    whole = make_video(ws / "whole6.mp4", seconds=6.0, fps=5, size=(64, 48))
    subprocess.run([PY, "-c", "import av,sys\n"
                    "i=av.open(sys.argv[1]);o=av.open(sys.argv[2],'w',options={'movflags':'faststart'})\n"
                    "m={s.index:o.add_stream_from_template(s) for s in i.streams}\n"
                    "[o.mux(p) or None for p in i.demux() if p.dts is not None and setattr(p,'stream',"
                    "m[p.stream.index]) is None]\no.close()", str(whole), str(faststart)], check=True)
    return truncate(faststart, 0.5, out=ws / "faststart-cut.mp4")


def build_cases(ws: Path, base: Path) -> list[Case]:
    """Every row of issue 9's table, built in `ws`. `base` is the baseline tree."""
    cases: list[Case] = []
    clip = make_video(ws / "clip.mp4", seconds=2.0, fps=5, size=(64, 48))

    def out(name: str, side: str) -> Path:
        return ws / f"out-{name}-{side}"

    # Row 1: thin pictures. Before, OCR scaled the short side up (24 GB for a 27 KB file); here
    # under an 8 GB address-space cap so the machine survives: a MemoryError or an RSS past 3 GB.
    thin = hf.make_thin_video(ws / "thin.ts")
    thin_cover = hf.make_thin_image(ws / "thin1280x2.png", (1280, 2))
    for name, source, extra in (("4096x2 video, frames", str(thin), ()),
                                ("1280x2 --cover, frames", str(clip), ("--cover", str(thin_cover)))):
        def before(r: Run) -> tuple[bool, str]:
            bad = r.rss_mb > RSS_LIMIT_MB or "memory" in r.stderr.lower() or r.killed
            why = "MemoryError" if "memory" in r.stderr.lower() else f"RSS {r.rss_mb:.0f} MB"
            return bad, f"{why}, exit {r.exit_text()}" + (", traceback" if r.traceback else "")

        def after(r: Run) -> tuple[bool, str]:
            ok = r.code == 3 and r.rss_mb < RSS_LIMIT_MB and not r.traceback
            return ok, f"exit {r.exit_text()}, RSS {r.rss_mb:.0f} MB: {r.last[:90]}"
        slug = name.split()[0]
        cases.append(Case("1", name,
                          Side(_scan(source, out(slug, "b"), *extra, analyzers="frames"), before, 240,
                               as_limit=8 << 30, out=out(slug, "b")),
                          Side(_scan(source, out(slug, "a"), *extra, analyzers="frames"), after, 240,
                               as_limit=8 << 30, out=out(slug, "a"))))

    # Row 2: one bad cover silenced the frame analyzer; the video's QR code was never read.
    qr = hf.make_qr_video(ws / "qr.mp4")
    wide = hf.make_thin_image(ws / "wide20000x1.png", (20000, 1))

    def qr_found(r: Run) -> bool:
        return any(f.get("kind") in ("offplatform_lure", "qr_code") and f.get("modality") != "cover"
                   for f in _findings(r))

    def before2(r: Run) -> tuple[bool, str]:
        bad = not qr_found(r) or r.code == 0 or r.traceback
        return bad, (f"exit {r.exit_text()}, QR {'read' if qr_found(r) else 'NOT read'}, "
                     f"{r.stderr.count(chr(10))} stderr lines" + (", traceback" if r.traceback else ""))

    def after2(r: Run) -> tuple[bool, str]:
        ok = qr_found(r) and r.code == 1 and "incomplete: cover" in r.stderr and not r.traceback
        return ok, f"exit {r.exit_text()}, QR {'read' if qr_found(r) else 'NOT read'}; " + \
            next((ln for ln in r.stderr.splitlines() if "incomplete" in ln), r.last)[:90]
    cases.append(Case("2", "qr.mp4 --cover 20000x1.png",
                      Side(_scan(str(qr), out("qr", "b"), "--cover", str(wide), analyzers="frames"),
                           before2, 240, out=out("qr", "b")),
                      Side(_scan(str(qr), out("qr", "a"), "--cover", str(wide), analyzers="frames"),
                           after2, 240, out=out("qr", "a"))))

    # Row 3: ReDoS. The shipped was/now pattern (cubic in spaces) and a user --policy pattern.
    redos = ("原价123" + " " * 4000 + "abc\n").encode()

    def hang(r: Run) -> tuple[bool, str]:
        return r.killed, "hung past the bound" if r.killed else f"exit {r.exit_text()} in {r.wall_s:.1f} s"

    def quick(r: Run) -> tuple[bool, str]:
        return r.code == 0 and not r.killed and r.wall_s < 30, f"exit {r.exit_text()} in {r.wall_s:.1f} s"
    cases.append(Case("3", "shipped was/now pattern, 4,000 spaces",
                      Side(["text", "--lexicon-only", "-"], hang, 60, stdin=redos),
                      Side(["text", "--lexicon-only", "-"], quick, 60, stdin=redos)))
    policies = {}
    for side, tree in (("b", base), ("a", REPO)):
        folder = ws / f"policy-{side}"
        folder.mkdir()
        for yaml_file in (tree / "liveinspect" / "policy").glob("*.yaml"):
            shutil.copy(yaml_file, folder / yaml_file.name)
        claims = (folder / "claims.yaml").read_text(encoding="utf-8")
        hostile = claims.replace("pattern: '(?:最后|仅剩", "pattern: '(a|aa)+$|(?:最后|仅剩", 1)
        assert hostile != claims
        (folder / "claims.yaml").write_text(hostile, encoding="utf-8")
        policies[side] = folder
    backtrack = ("a" * 42 + "!\n").encode()
    cases.append(Case("3", "user --policy pattern (a|aa)+$",
                      Side(["text", "--lexicon-only", "--policy", str(policies["b"]), "-"], hang, 60,
                           stdin=backtrack),
                      Side(["text", "--lexicon-only", "--policy", str(policies["a"]), "-"],
                           lambda r: _bounded_error(r, 2, "backtracks"), 60, stdin=backtrack)))

    # Row 4: each finding embedded the whole source text.
    description = "全网第一的面霜，加微信购买。" * 2600     # ~36 KB of text, 2 violations per repeat
    products = ws / "products.json"
    products.write_text(json.dumps([{"name": "面霜", "category": "cosmetics", "price": 99,
                                     "description": description}], ensure_ascii=False), encoding="utf-8")

    def size(r: Run) -> float:
        path = r.out / "report.json" if r.out else None
        return path.stat().st_size / 1e6 if path and path.is_file() else float("nan")

    def before4(r: Run) -> tuple[bool, str]:
        return size(r) > 5.0, f"report.json {size(r):.1f} MB, RSS {r.rss_mb:.0f} MB, {r.wall_s:.0f} s"

    def after4(r: Run) -> tuple[bool, str]:
        # Linear now: each finding quotes a window, so the size follows the number of findings
        # (5,200 here), not findings x text length.
        n = len(_findings(r))
        per = size(r) * 1e6 / max(n, 1)
        return per < 2000 and r.code == 1, \
            f"report.json {size(r):.2f} MB for {n} findings ({per:.0f} B each), exit {r.exit_text()}"
    cases.append(Case("4", "36 KB product description",
                      Side(_scan(str(clip), out("desc", "b"), "--products", str(products), "--lexicon-only"),
                           before4, 240, out=out("desc", "b")),
                      Side(_scan(str(clip), out("desc", "a"), "--products", str(products), "--lexicon-only"),
                           after4, 240, out=out("desc", "a"))))

    # Row 5: local HLS confinement; what FFmpeg actually opened is read from strace.
    hf.make_secret(ws / "secret")
    playlists = hf.hostile_playlists(ws / "show")

    def bypassed(r: Run) -> tuple[bool, str]:
        hits = _secret_reads(r)
        return bool(hits), (f"opened {len(hits)}x ../secret/, exit {r.exit_text()}" if hits
                            else f"secret not opened, exit {r.exit_text()}: {r.last[:80]}")

    def confined(r: Run) -> tuple[bool, str]:
        hits = _secret_reads(r)
        ok = not hits and r.code in (2, 3) and "outside its own folder" in r.stderr and not r.traceback
        return ok, (f"secret opened {len(hits)}x!" if hits else "secret never opened") + \
            f", exit {r.exit_text()}: {r.last[:80]}"
    opens = "openat,open"
    for name in ("nul.m3u8", "map_unquoted.m3u8", "key_unquoted.m3u8", "sub_named_ts.m3u8"):
        cases.append(Case("5", name,
                          Side(_scan(str(playlists[name]), out(name, "b")), bypassed, 60, strace=opens),
                          Side(_scan(str(playlists[name]), out(name, "a")), confined, 60, strace=opens)))
    live = ws / "show" / "live.m3u8"
    live_head = hf.PLAYLIST_HEAD.replace("TARGETDURATION:2", "TARGETDURATION:1") + "#EXTINF:2.0,\nok0.ts\n"

    def live_setup() -> None:
        # The playlist passes its check; once FFmpeg has opened its first segment (decoding has
        # begun, so any up-front check is over) it names the secret, which FFmpeg sees on its
        # next reload (every target duration).
        live.write_text(live_head)
        watch = hf.OpenWatch(ws / "show")

        def change() -> None:
            deadline = time.monotonic() + 50
            while time.monotonic() < deadline and "ok0.ts" not in watch.names(wait_s=0.5):
                pass
            watch.close()
            live.write_text(live_head + "#EXTINF:2.0,\n../secret/secret.ts\n#EXT-X-ENDLIST\n")
        threading.Thread(target=change, daemon=True).start()
    cases.append(Case("5", "live playlist changed after its check",
                      Side(_scan(str(live), out("live", "b"), "--max-duration", "8"), bypassed, 60,
                           strace="openat,open", setup=live_setup),
                      Side(_scan(str(live), out("live", "a"), "--max-duration", "8"), confined, 60,
                           strace="openat,open", setup=live_setup)))

    # Row 6: partial or skipped inspection exited 0.
    cut_mp4 = _cut_faststart_mp4(ws)
    svg = ws / "cover.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    bomb = make_png_header(ws / "bomb30000.png", 30000, 30000)

    def said_zero(r: Run) -> tuple[bool, str]:
        state = (r.report() or {}).get("media", {}).get("state")
        return r.code == 0, f"exit {r.exit_text()}, media {state}: {r.last[:70]}"

    def incomplete(r: Run) -> tuple[bool, str]:
        ok = r.code == 3 and "incomplete" in r.stderr and not r.traceback
        line = next((ln for ln in r.stderr.splitlines() if "incomplete" in ln), r.last)
        return ok, f"exit {r.exit_text()}: {line[:100]}"
    for name, source, extra, after_judge in (
            ("truncated faststart MP4", str(cut_mp4), (), incomplete),
            ("--window nan", str(clip), ("--window", "nan"),
             lambda r: _bounded_error(r, 2, "finite number > 0")),
            ("missing --cover", str(clip), ("--cover", str(ws / "nope.png")),
             lambda r: _bounded_error(r, 2, "not found")),
            ("SVG --cover", str(clip), ("--cover", str(svg)), incomplete),
            ("30000x30000 PNG-bomb --cover", str(clip), ("--cover", str(bomb)), incomplete)):
        slug = re.sub(r"\W+", "", name)[:12]
        cases.append(Case("6", name,
                          Side(_scan(source, out(slug, "b"), *extra), said_zero, 120, out=out(slug, "b")),
                          Side(_scan(source, out(slug, "a"), *extra), after_judge, 120, out=out(slug, "a"))))
    www = ws / "www"
    www.mkdir()
    make_video(www / "stall.ts", seconds=20.0, fps=5, size=(160, 120))
    make_video(www / "clip.mp4", seconds=2.0, fps=5, size=(32, 32))
    make_video(www / "ok.m3u8", seconds=2.0, fps=5, size=(32, 32), container="hls")
    make_video(www / "trickle.ts", seconds=60.0, fps=5, size=(160, 120))
    state = _STATE

    @contextlib.contextmanager
    def servers() -> Iterator[None]:
        with hf.serve(www) as state["base"], hf.serve(www, host="127.0.0.2") as state["internal"]:
            yield

    # argv is built when the run starts (the server's port is known only then).
    cases.append(Case("6", "mid-stream read stall (server holds the connection)",
                      Side(["scan", "{base}/stall", "--out", str(out("stall", "b")), "--no-progress",
                            "--analyzers", "none"], said_zero, 150, out=out("stall", "b")),
                      Side(["scan", "{base}/stall", "--out", str(out("stall", "a")), "--no-progress",
                            "--analyzers", "none", "--allow-private-urls"], incomplete, 150,
                           out=out("stall", "a")), context=servers))

    # Row 7: the HTML report past 24 h of media (library level: write_report on such a report).
    seven = ("import sys\nfrom pathlib import Path\n"
             "from liveinspect.schema import Broadcast, MediaStatus, Report\n"
             "from liveinspect.pipelines.evidence import EvidenceStore\n"
             "from liveinspect.report.html import write_report\n"
             "r = Report(broadcast=Broadcast(source='day.ts'), media=MediaStatus(state='complete', "
             "duration_s=200000.0))\n"
             "write_report(r, EvidenceStore(), 'out7')\n"
             "print('html bytes', Path('out7/report.html').stat().st_size)\n")

    def html_failed(r: Run) -> tuple[bool, str]:
        return r.code != 0, f"exit {r.exit_text()}: {r.last[:100]}"

    def html_written(r: Run) -> tuple[bool, str]:
        return r.code == 0 and "html bytes" in r.stdout, r.stdout.strip()[:60]
    cases.append(Case("7", "write_report, 200,000 s of media (library)",
                      Side(["-c", seven], html_failed, 60, module=False),
                      Side(["-c", seven], html_written, 60, module=False)))

    # Row 8: address filtering. A loopback source; segments and redirects of a remote playlist
    # to an internal host (library level, with 127.0.0.1 standing in for a public CDN); a
    # playlist segment at the cloud metadata address (strace: was a connection attempted?).
    def fetched(r: Run) -> tuple[bool, str]:
        return bool(r.requests), f"server got {len(r.requests)} request(s), exit {r.exit_text()}"

    def refused_unfetched(words: str) -> Judge:
        def judge(r: Run) -> tuple[bool, str]:
            ok, text = _bounded_error(r, 2, words)
            return ok and not r.requests, f"{len(r.requests)} request(s); {text}"
        return judge
    cases.append(Case("8", "loopback source URL",
                      Side(["scan", "{base}/clip.mp4", "--out", str(out("lo", "b")), "--no-progress",
                            "--analyzers", "none"], fetched, 60),
                      Side(["scan", "{base}/clip.mp4", "--out", str(out("lo", "a")), "--no-progress",
                            "--analyzers", "none"], refused_unfetched("loopback"), 60), context=servers))

    def evil_playlist() -> None:   # names the internal server, whose port is known only now
        (www / "evil.m3u8").write_text(hf.PLAYLIST_HEAD + f"#EXTINF:2.0,\nok0.ts\n#EXTINF:2.0,\n"
                                       f"{state['internal']}/leak.ts\n#EXTINF:2.0,\n"
                                       f"/redirect?to={state['internal']}/leak2.ts\n#EXT-X-ENDLIST\n")
    eight = ("import ipaddress, sys\nfrom liveinspect.media import iter_segments\n"
             "try:\n    from liveinspect.media import netguard\n"
             "    real = netguard.address_problem\n"
             "    def problem(a, *, allow_private=False):\n"
             "        if a == ipaddress.ip_address('127.0.0.1'):\n            return None\n"
             "        return real(a, allow_private=allow_private)\n"
             "    netguard.address_problem = problem\n"
             "except ImportError:\n    pass\n"
             "try:\n    n = len(list(iter_segments(sys.argv[1], window_s=1.0)))\n    print('segments', n)\n"
             "except Exception as e:\n    print(f'{type(e).__name__}: {e}', file=sys.stderr)\n"
             "    sys.exit(2)\n")

    def internal_hits(r: Run) -> list[str]:
        return [q for q in r.requests if q.startswith("127.0.0.2")]

    def leaked(r: Run) -> tuple[bool, str]:
        hits = internal_hits(r)
        return bool(hits), f"internal host got {hits}, exit {r.exit_text()}"

    def not_leaked(r: Run) -> tuple[bool, str]:
        hits = internal_hits(r)
        return not hits and r.code == 2 and "refusing" in r.stderr, \
            f"internal host got {len(hits)}; {r.last[:90]}"
    cases.append(Case("8", "remote playlist: segment + redirect to 127.0.0.2 (library)",
                      Side(["-c", eight, "{base}/evil.m3u8"], leaked, 60, module=False, setup=evil_playlist),
                      Side(["-c", eight, "{base}/evil.m3u8"], not_leaked, 60, module=False,
                           setup=evil_playlist),
                      context=servers))
    (www / "meta.m3u8").write_text(hf.PLAYLIST_HEAD + "#EXTINF:2.0,\nok0.ts\n#EXTINF:2.0,\n"
                                   "http://169.254.169.254/latest/meta-data/x.ts\n#EXT-X-ENDLIST\n")

    def metadata_connects(r: Run) -> list[str]:
        return [line for line in r.opened if "169.254.169.254" in line]

    def connected(r: Run) -> tuple[bool, str]:
        hits = metadata_connects(r)
        return bool(hits), f"{len(hits)} connect() to 169.254.169.254, exit {r.exit_text()}"

    def not_connected(r: Run) -> tuple[bool, str]:
        hits = metadata_connects(r)
        return not hits and r.code in (2, 3) and "metadata" in r.stderr, \
            f"{len(hits)} connect(); exit {r.exit_text()}: {r.last[:80]}"
    cases.append(Case("8", "playlist segment at 169.254.169.254",
                      Side(["scan", "{base}/meta.m3u8", "--out", str(out("meta", "b")), "--no-progress",
                            "--analyzers", "none"], connected, 90, strace="connect"),
                      Side(["scan", "{base}/meta.m3u8", "--out", str(out("meta", "a")), "--no-progress",
                            "--analyzers", "none", "--allow-private-urls"], not_connected, 90,
                           strace="connect"), context=servers))

    # Row 9: --max-duration vs a trickling peer (2 KB every 5 s); SIGTERM keeps the report.
    def trickle(pause: float) -> Callable[[], None]:
        def setup() -> None:
            hf._Handler.trickle_pause_s = pause
        return setup
    budget = 1.5 * 5 + 30

    def bounded(r: Run) -> tuple[bool, str]:
        ok = not r.killed and r.code in (0, 3) and r.wall_s < budget + 30 and not r.traceback
        return ok, f"exit {r.exit_text()} after {r.wall_s:.0f} s: {r.last[:80]}"
    cases.append(Case("9", "--max-duration 5, peer trickles 2 KB / 5 s",
                      Side(["scan", "{base}/trickle", "--max-duration", "5", "--out", str(out("tr", "b")),
                            "--no-progress", "--analyzers", "none"], hang, 120, setup=trickle(5.0)),
                      Side(["scan", "{base}/trickle", "--max-duration", "5", "--out", str(out("tr", "a")),
                            "--no-progress", "--analyzers", "none", "--allow-private-urls"], bounded, 120,
                           setup=trickle(5.0)), context=servers))

    def lost(r: Run) -> tuple[bool, str]:
        report = r.report()
        return report is None, f"exit {r.exit_text()}, report.json {'written' if report else 'missing'}"

    def kept(r: Run) -> tuple[bool, str]:
        report = r.report() or {}
        stopped = report.get("media", {}).get("state") == "stopped"
        ok = r.code == 3 and stopped and bool(report.get("findings"))
        return ok, (f"exit {r.exit_text()}, media {report.get('media', {}).get('state')}, "
                    f"{len(report.get('findings', []))} finding(s) kept")
    term = ["scan", "{base}/trickle", "--title", TITLE, "--window", "1", "--fail-on", "critical",
            "--no-progress", "--analyzers", "none", "--out"]
    cases.append(Case("9", "SIGTERM during a scan",
                      Side([*term, str(out("term", "b"))], lost, 90, send=(8.0, signal.SIGTERM),
                           setup=trickle(0.02), out=out("term", "b")),
                      Side([*term, str(out("term", "a")), "--allow-private-urls"], kept, 90,
                           send=(8.0, signal.SIGTERM), setup=trickle(0.02), out=out("term", "a")),
                      context=servers))

    # Row 10: a 32 KB WAV claiming 1 Hz.
    wav1 = hf.make_wav_header(ws / "rate1.wav", rate=1, samples=16_000)

    def amplified(r: Run) -> tuple[bool, str]:
        duration = (r.report() or {}).get("media", {}).get("duration_s")
        return (duration or 0) > 1000 or r.code == 0, \
            f"exit {r.exit_text()}, media {duration} s, {r.wall_s:.0f} s wall"
    cases.append(Case("10", "32 KB WAV whose header says 1 Hz",
                      Side(_scan(str(wav1), out("wav1", "b")), amplified, 120, out=out("wav1", "b")),
                      Side(_scan(str(wav1), out("wav1", "a")), lambda r: _bounded_error(r, 2, "claims 1 Hz"),
                           120, out=out("wav1", "a"))))

    # Row 11: Hangul fillers.
    fillers = "加\u3164微信\n全网第\u3164一\n".encode()

    def missed(r: Run) -> tuple[bool, str]:
        n = sum(len(json.loads(line).get("findings", [])) for line in r.stdout.splitlines() if line.strip())
        return n == 0, f"exit {r.exit_text()}, {n} finding(s)"

    def caught(r: Run) -> tuple[bool, str]:
        n = sum(len(json.loads(line).get("findings", [])) for line in r.stdout.splitlines() if line.strip())
        return r.code == 1 and n >= 2, f"exit {r.exit_text()}, {n} finding(s)"
    cases.append(Case("11", "加\\u3164微信, 全网第\\u3164一",
                      Side(["text", "--lexicon-only", "-"], missed, 60, stdin=fillers),
                      Side(["text", "--lexicon-only", "-"], caught, 60, stdin=fillers)))

    # Row 12: a transformers --claim-model whose weights do not match its config.
    # Tensors named for another model: transformers finds none of its keys. (A config that only
    # changes the shapes is refused by transformers itself, before and after: not this row.)
    bad_model = hf.make_claim_model(ws / "claim-bad", hostile="renamed")

    def random_weights(r: Run) -> tuple[bool, str]:
        return r.code in (0, 1), f"exit {r.exit_text()}: scanned with it; {r.last[:80]}"
    cases.append(Case("12", "--claim-model with foreign weights",
                      Side(["text", "--claim-model", str(bad_model), "-"], random_weights, 120,
                           stdin="全网第一\n".encode()),
                      Side(["text", "--claim-model", str(bad_model), "-"],
                           lambda r: _bounded_error(r, 2, "claim"), 120, stdin="全网第一\n".encode())))

    # Row 13: crafted Whisper checkpoints.
    import torch

    tiny = {"n_mels": 80, "n_audio_ctx": 8, "n_audio_state": 8, "n_audio_head": 2, "n_audio_layer": 1,
            "n_vocab": 51865, "n_text_ctx": 8, "n_text_state": 8, "n_text_head": 2, "n_text_layer": 1}
    big = ws / "big-dims.pt"
    torch.save({"dims": {**tiny, "n_audio_state": 6144}, "model_state_dict": {}}, big)
    typed = ws / "str-dims.pt"
    torch.save({"dims": {**tiny, "n_text_layer": "x"}, "model_state_dict": {}}, typed)
    wav = hf.make_wav_header(ws / "speech.wav", rate=16000, samples=16000)

    def allocated(r: Run) -> tuple[bool, str]:
        return r.rss_mb > 1000 or "TypeError" in r.stderr, \
            f"RSS {r.rss_mb:.0f} MB for a {big.stat().st_size} B file; {r.last[:70]}"

    def typeerror(r: Run) -> tuple[bool, str]:
        return "TypeError" in r.stderr or r.traceback, f"exit {r.exit_text()}: {r.last[:90]}"

    def refused_small(words: str) -> Judge:
        def judge(r: Run) -> tuple[bool, str]:
            ok, text = _bounded_error(r, 2, words)
            return ok and r.rss_mb < 1000, f"RSS {r.rss_mb:.0f} MB; {text}"
        return judge
    for name, path, before_judge, words in (("n_audio_state 6144", big, allocated, "not an integer"),
                                            ("n_text_layer 'x'", typed, typeerror, "not an integer")):
        slug = path.stem
        cases.append(Case("13", f"--whisper crafted .pt: {name}",
                          Side(_scan(str(wav), out(slug, "b"), "--whisper", str(path), analyzers="speech"),
                               before_judge, 180, out=out(slug, "b")),
                          Side(_scan(str(wav), out(slug, "a"), "--whisper", str(path), analyzers="speech"),
                               refused_small(words), 180, out=out(slug, "a"))))

    # Row 14: the text command's output and input.
    times = b'{"modality":"speech","text":"x","t_start":1e999}\n' \
        b'{"modality":"speech","text":"x","t_start":-5}\n' \
        b'{"modality":"speech","text":"x","t_start":9,"t_end":3}\n'

    def not_json(r: Run) -> tuple[bool, str]:
        bad = _strict_json_lines(r.stdout)
        accepted = sum(1 for line in r.stdout.splitlines() if '"error"' not in line and line.strip())
        return bad is not None or accepted == 3, \
            f"non-JSON line {bad!r}" if bad else f"{accepted}/3 bad times accepted, exit {r.exit_text()}"

    def strict(r: Run) -> tuple[bool, str]:
        bad = _strict_json_lines(r.stdout)
        errors = r.stdout.count('"error"')
        return bad is None and errors == 3 and not r.traceback, \
            f"strict JSON, {errors}/3 lines refused with an error, exit {r.exit_text()}"
    cases.append(Case("14", "times 1e999, -5, 9..3",
                      Side(["text", "--lexicon-only", "-"], not_json, 60, stdin=times),
                      Side(["text", "--lexicon-only", "-"], strict, 60, stdin=times)))
    badutf = ws / "bad-utf8.txt"
    badutf.write_bytes("全网第一\n".encode() + b"\xff\xfe\xe5\x8a\xa0\xe5\xbe\xae\xe4\xbf\xa1\n")

    def decode_crash(r: Run) -> tuple[bool, str]:
        return "UnicodeDecodeError" in r.stderr or r.traceback, f"exit {r.exit_text()}: {r.last[:90]}"

    def replaced(r: Run) -> tuple[bool, str]:
        rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        second = rows[1] if len(rows) == 2 else {}
        ok = r.code == 1 and bool(second.get("warnings")) and bool(second.get("findings"))
        return ok, f"exit {r.exit_text()}, {len(rows)} rows, line 2 warned and checked"
    cases.append(Case("14", "FILE with invalid UTF-8",
                      Side(["text", "--lexicon-only", str(badutf)], decode_crash, 60),
                      Side(["text", "--lexicon-only", str(badutf)], replaced, 60)))
    many = "".join(f"第{i}件商品今天发货\n" for i in range(20_000)).encode()
    timing: dict[str, float] = {}

    def slow(r: Run) -> tuple[bool, str]:
        timing["before"] = r.wall_s   # "shown" is settled by the after judge's ratio
        return r.code == 0 and r.wall_s > 10, f"{r.wall_s:.1f} s for 20,000 lines"

    def fast(r: Run) -> tuple[bool, str]:
        ratio = timing.get("before", float("nan")) / max(r.wall_s, 1e-3)
        return r.code == 0 and ratio > 2, f"{r.wall_s:.1f} s for 20,000 lines ({ratio:.1f}x faster)"
    # The same model on both sides: the n-gram classifier (the current default adds the
    # multilingual encoder, a different and slower model; --no-claim-encoder leaves it out).
    cases.append(Case("14", "20,000 lines, n-gram claim classifier",
                      Side(["text", "-"], slow, 300, stdin=many),
                      Side(["text", "--no-claim-encoder", "-"], fast, 300, stdin=many)))

    # Row 15: the smaller ones.
    def no_exit_zero_or_crash(r: Run) -> tuple[bool, str]:
        return r.code == 0 or r.traceback or "unexpected error" in r.stderr or r.killed, \
            f"exit {r.exit_text()}: {r.last[:100]}"
    # A real, decodable PNG (not only a header): 144 Mpx of zeros in a few hundred KB.
    bomb_source = hf.make_png_bomb(ws / "bomb-source.png", 12000, 12000)
    cases.append(Case("15", "12000x12000 PNG (decodable, 140 KB) as the SOURCE",
                      Side(_scan(str(bomb_source), out("bombsrc", "b")),
                           lambda r: (r.rss_mb > 1500 or r.code != 2 or "unexpected" in r.stderr,
                                      f"exit {r.exit_text()}, RSS {r.rss_mb:.0f} MB: {r.last[:70]}"), 120,
                           as_limit=8 << 30),
                      Side(_scan(str(bomb_source), out("bombsrc", "a")),
                           refused_small("too large"), 120)))
    long_clip = make_video(ws / "long.mp4", seconds=40.0, fps=5, size=(160, 120))
    blocker = ws / "a-file"
    blocker.write_text("x")
    waited: dict[str, float] = {}

    def late(r: Run) -> tuple[bool, str]:
        waited["before"] = r.wall_s
        return r.code == 2 and r.wall_s > 10, f"exit {r.exit_text()} after {r.wall_s:.1f} s: {r.last[:70]}"

    def early(r: Run) -> tuple[bool, str]:
        ok, text = _bounded_error(r, 2, "not a folder")
        return ok and r.wall_s < waited.get("before", 0) / 2, f"after {r.wall_s:.1f} s; {text}"
    cases.append(Case("15", "--out is a file (40 s video, frames)",
                      Side(_scan(str(long_clip), blocker, analyzers="frames"), late, 300),
                      Side(_scan(str(long_clip), blocker, analyzers="frames"), early, 300)))
    for value in ("0", "nan", "inf"):
        cases.append(Case("15", f"--fps {value}",
                          Side(_scan(str(clip), out("fps", "b"), "--fps", value), no_exit_zero_or_crash, 60),
                          Side(_scan(str(clip), out("fps", "a"), "--fps", value),
                               lambda r: _bounded_error(r, 2, "finite number > 0"), 60)))
    data = ws / "train.jsonl"
    data.write_text('{"text": "全网第一", "label": "absolute_term"}\n'
                    '{"text": "今天发货", "label": "compliant"}\n', encoding="utf-8")

    def saved(side: str) -> Judge:
        def judge(r: Run) -> tuple[bool, str]:
            exists = (ws / f"model0-{side}").exists()
            text = f"exit {r.exit_text()}, model folder {'saved' if exists else 'absent'}"
            if side == "b":
                return exists or r.code == 0, text
            return r.code == 2 and not exists, f"{text}: {r.last[:60]}"
        return judge
    train = ["train", "claims", "--data", str(data), "--epochs", "0", "--no-progress", "--out"]
    cases.append(Case("15", "train claims --epochs 0",
                      Side([*train, str(ws / "model0-b")], saved("b"), 120),
                      Side([*train, str(ws / "model0-a")], saved("a"), 120)))
    cases.append(Case("15", "/dev/zero as the source",
                      Side(_scan("/dev/zero", out("zero", "b")),
                           lambda r: ("empty" in r.stderr or r.killed,
                                      f"exit {r.exit_text()}: {r.last[:90]}"), 60),
                      Side(_scan("/dev/zero", out("zero", "a")),
                           lambda r: _bounded_error(r, 2, "not a regular file"), 60)))
    ts = make_video(ws / "full.ts", seconds=4.0, fps=5, size=(64, 48))
    cut_ts = truncate(ts, 0.6, out=ws / "cut.ts")
    cases.append(Case("15", "truncated MPEG-TS",
                      Side(_scan(str(cut_ts), out("cutts", "b")), said_zero, 60, out=out("cutts", "b")),
                      Side(_scan(str(cut_ts), out("cutts", "a")), incomplete, 60, out=out("cutts", "a"))))
    # A model card naming ../secret.bin: before, the errors told whether that file exists.
    (ws / "secret.bin").write_bytes(b"x")
    card_dirs = {}
    for label, name in (("exists", "../secret.bin"), ("absent", "../no-such.bin")):
        folder = ws / f"card-{label}"
        folder.mkdir()
        card = {"format": "liveinspect-checkpoint/1", "task": "claims", "labels": ["a"], "architecture": {},
                "data": {}, "metrics": {}, "versions": {}, "created": "2026-01-01T00:00:00+00:00",
                "weights": {"file": name, "sha256": "0" * 64}}
        (folder / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
        card_dirs[label] = folder
    oracle: dict[str, dict[str, str]] = {"b": {}, "a": {}}

    def card_judge(side: str, label: str) -> Judge:
        def judge(r: Run) -> tuple[bool, str]:
            oracle[side][label] = re.sub(r"/\S+", "PATH", r.last)
            if label == "exists":
                return True, f"exit {r.exit_text()}: {r.last[:90]}"
            differ = oracle[side].get("exists") != oracle[side][label]
            if side == "b":
                return differ, ("the two messages differ: an existence oracle" if differ else
                                "same message for both") + f" ({r.last[:60]})"
            return not differ and "plain file name" in r.stderr and r.code == 2, \
                ("same refusal for both" if not differ else "messages differ!") + f": {r.last[:70]}"
        return judge
    for label in ("exists", "absent"):
        argv = ["text", "--claim-model", str(card_dirs[label]), "-"]
        shown = "secret" if label == "exists" else "no-such"
        cases.append(Case("15", f"model card weights.file ../{shown}.bin",
                          Side(argv, card_judge("b", label), 60, stdin=b"x\n"),
                          Side(argv, card_judge("a", label), 60, stdin=b"x\n")))
    # Non-atomic report writes: a scan into a folder that holds a good report runs out of disk
    # (RLIMIT_FSIZE) while writing; before, the old report is left truncated.
    previous = {"side": None}

    def prime(side: str) -> Callable[[], None]:
        def setup() -> None:
            folder = out("atomic", side)
            folder.mkdir(exist_ok=True)
            previous["side"] = json.dumps({"previous": "x" * 4000})
            (folder / "report.json").write_text(previous["side"])
        return setup

    def clobbered(r: Run) -> tuple[bool, str]:
        text = (r.out / "report.json").read_text(errors="replace")
        return text != previous["side"], f"exit {r.exit_text()}, report.json now {len(text)} bytes, " \
            f"{'invalid JSON' if (r.report() or {}).get('_invalid') else 'valid'}"

    def intact(r: Run) -> tuple[bool, str]:
        text = (r.out / "report.json").read_text(errors="replace")
        leftovers = sorted(p.name for p in r.out.iterdir() if p.name.startswith(".") or p.suffix == ".tmp")
        return text == previous["side"] and r.code == 2 and not leftovers, \
            f"exit {r.exit_text()}, earlier report.json intact, leftovers {leftovers}: {r.last[:60]}"
    products_big = ws / "products-big.json"
    products_big.write_text(json.dumps([{"name": f"商品{i}", "description": "全网第一的面霜" * 20}
                                        for i in range(40)], ensure_ascii=False), encoding="utf-8")
    extra = ("--products", str(products_big), "--lexicon-only")
    cases.append(Case("15", "disk full while writing report.json",
                      Side(_scan(str(clip), out("atomic", "b"), *extra), clobbered, 60, fsize=3000,
                           out=out("atomic", "b"), setup=prime("b")),
                      Side(_scan(str(clip), out("atomic", "a"), *extra), intact, 60, fsize=3000,
                           out=out("atomic", "a"), setup=prime("a"))))
    return cases


# -- (a) the before/after table -------------------------------------------------------------------

def _fill(argv: list[str], state: dict[str, str]) -> list[str]:
    """Put the servers' URLs (known once they listen) into {base} and {internal}."""
    filled = []
    for arg in argv:
        for key, value in state.items():
            arg = arg.replace("{" + key + "}", value)
        filled.append(arg)
    return filled


def run_cases(cases: list[Case], base: Path, ws: Path, rows: set[str] | None) -> list[dict]:
    results = []
    for case in cases:
        if rows and case.row not in rows:
            continue
        context = case.context() if case.context else contextlib.nullcontext()
        with context:
            state = _STATE
            outcome = {"row": case.row, "name": case.name}
            for key, tree, side in (("before", base, case.before), ("after", REPO, case.after)):
                cwd = ws / f"cwd-{key}"
                cwd.mkdir(exist_ok=True)
                if side.setup:
                    side.setup()
                argv = _fill(side.argv, state) if state else side.argv
                r = run(argv, tree=tree, cwd=cwd, bound=side.bound, stdin=side.stdin, strace=side.strace,
                        send=side.send, fsize=side.fsize, as_limit=side.as_limit, out=side.out,
                        module=side.module)
                try:
                    good, note = side.judge(r)
                except Exception as error:  # noqa: BLE001 - a judge that cannot judge is a result too
                    good, note = False, f"judge failed: {type(error).__name__}: {error}; {r.last[:60]}"
                # A run killed at its bound leaves no rusage of its own (timeout's group is
                # killed before it waits): its peak is unknown, not the 2 MB of `timeout`.
                outcome[key] = {"exit": r.exit_text(), "wall_s": round(r.wall_s, 1),
                                "rss_mb": None if r.killed else round(r.rss_mb), "note": note, "ok": good,
                                "last": r.last[:200]}
            shown = "yes" if outcome["before"]["ok"] else "NOT SHOWN"
            fixed = "yes" if outcome["after"]["ok"] else "NO"
            outcome["shown"], outcome["fixed"] = shown, fixed
            results.append(outcome)
            b, a = outcome["before"], outcome["after"]
            print(f"[{case.row:>2}] {case.name}\n     before: {b['exit']:>6} {b['wall_s']:6.1f} s "
                  f"{_mb(b['rss_mb'])}  {b['note']}\n     after:  {a['exit']:>6} {a['wall_s']:6.1f} s "
                  f"{_mb(a['rss_mb'])}  {a['note']}\n     defect shown before: {shown}; fixed: {fixed}",
                  flush=True)
    return results


def _mb(value: int | None) -> str:
    return "     ? MB" if value is None else f"{value:6d} MB"


def markdown_table(results: list[dict]) -> str:
    lines = ["| row | hostile input | before (3b998d3): exit, wall, peak RSS — what went wrong | "
             "after: exit, wall, peak RSS — what happens | defect shown | fixed |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        b, a = r["before"], r["after"]
        def cell(s: dict) -> str:
            rss = "?" if s["rss_mb"] is None else s["rss_mb"]
            note = re.sub(r"/tmp/hostile-regressions-\w+/", "", s["note"])
            return f"{s['exit']}, {s['wall_s']} s, {rss} MB — {note}".replace("|", "\\|")
        lines.append(f"| {r['row']} | {r['name']} | {cell(b)} | {cell(a)} | {r['shown']} | {r['fixed']} |")
    return "\n".join(lines)


# -- (b) full default scans ------------------------------------------------------------------------

def full_scans(ws: Path, only: set[str] | None) -> list[dict]:
    """The default analyzers on one input of each family (current tree), under time -v."""
    clip = make_video(ws / "clip.mp4", seconds=2.0, fps=5, size=(64, 48))
    thin = hf.make_thin_video(ws / "thin.ts")
    qr = hf.make_qr_video(ws / "qr.mp4")
    hf.make_secret(ws / "secret")
    playlists = hf.hostile_playlists(ws / "show")
    wav1 = hf.make_wav_header(ws / "rate1.wav", rate=1, samples=16_000)
    bomb = make_png_header(ws / "bomb.png", 30000, 30000)
    cut_mp4 = _cut_faststart_mp4(ws)
    svg = ws / "cover.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    bad_model = hf.make_claim_model(ws / "claim-bad", hostile="renamed")
    cut_ts = truncate(make_video(ws / "full.ts", seconds=4.0, fps=5, size=(64, 48)), 0.6, out=ws / "cut.ts")
    products = ws / "products.json"
    products.write_text(json.dumps([{"name": "面霜", "description": "全网第一的面霜，加微信购买。" * 2600}],
                                   ensure_ascii=False), encoding="utf-8")
    import torch

    crafted = ws / "crafted.pt"
    torch.save({"dims": {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 4096, "n_audio_head": 1,
                         "n_audio_layer": 1, "n_vocab": 51865, "n_text_ctx": 448, "n_text_state": 8,
                         "n_text_head": 1, "n_text_layer": 1}, "model_state_dict": {}}, crafted)
    www = ws / "www"
    www.mkdir()
    make_video(www / "trickle.ts", seconds=60.0, fps=5, size=(160, 120))
    make_video(www / "stall.ts", seconds=20.0, fps=5, size=(160, 120))
    make_video(www / "ok.m3u8", seconds=2.0, fps=5, size=(32, 32), container="hls")
    (www / "meta.m3u8").write_text(hf.PLAYLIST_HEAD + "#EXTINF:2.0,\nok0.ts\n#EXTINF:2.0,\n"
                                   "http://169.254.169.254/latest/x.ts\n#EXT-X-ENDLIST\n")
    # family -> (source, extra flags, bound in s)
    thin_cover = hf.make_thin_image(ws / "t.png", (1280, 2))
    wide_cover = hf.make_thin_image(ws / "w.png", (20000, 1))
    families: list[tuple[str, str, tuple[str, ...], float]] = [
        ("1 thin video 4096x2", str(thin), (), 180),
        ("1 thin cover 1280x2", str(clip), ("--cover", str(thin_cover)), 180),
        ("2 QR video + 20000x1 cover", str(qr), ("--cover", str(wide_cover)), 180),
        ("3 ReDoS title (4,000 spaces)", str(clip), ("--title", "原价123" + " " * 4000 + "abc"), 180),
        ("4 36 KB product description", str(clip), ("--products", str(products)), 180),
        ("5 HLS nul.m3u8", str(playlists["nul.m3u8"]), (), 180),
        ("5 HLS map_unquoted.m3u8", str(playlists["map_unquoted.m3u8"]), (), 180),
        ("5 HLS key_unquoted.m3u8", str(playlists["key_unquoted.m3u8"]), (), 180),
        ("5 HLS sub_named_ts.m3u8", str(playlists["sub_named_ts.m3u8"]), (), 180),
        ("6 truncated faststart MP4", str(cut_mp4), (), 180),
        ("6 PNG-bomb cover 30000x30000", str(clip), ("--cover", str(bomb)), 180),
        ("6 SVG cover", str(clip), ("--cover", str(svg)), 180),
        ("6 peer stalls mid-file", "{base}/stall", ("--allow-private-urls",), 180),
        ("7/10 WAV claiming 1 Hz", str(wav1), (), 180),
        ("8 playlist segment at 169.254.169.254", "{base}/meta.m3u8", ("--allow-private-urls",), 180),
        ("9 trickling peer, --max-duration 5", "{base}/trickle",
         ("--allow-private-urls", "--max-duration", "5"), 1.5 * 5 + 30 + 120),
        ("12 --claim-model, tensors renamed", str(clip), ("--claim-model", str(bad_model)), 180),
        ("13 crafted --whisper (n_audio_state 4096)", str(clip), ("--whisper", str(crafted)), 180),
        ("15 PNG-bomb as source", str(bomb), (), 180),
        ("15 truncated MPEG-TS", str(cut_ts), (), 180),
    ]
    rows = []
    cwd = ws / "cwd"
    cwd.mkdir()
    state: dict[str, str] = {}
    with hf.serve(www) as state["base"]:
        hf._Handler.trickle_pause_s = 5.0
        for i, (family, source, extra, bound) in enumerate(families):
            if only and family.split()[0] not in only:
                continue
            target = ws / f"full-{i}"
            argv = ["scan", source.format(**state), "--out", str(target), "--no-progress", *extra]
            r = run(argv, tree=REPO, cwd=cwd, bound=bound, out=target)
            shown = " ".join(a.replace(str(ws) + "/", "").replace(state["base"], "http://127.0.0.1:PORT")
                             if len(a) < 60 else a[:12] + "…" for a in argv[:2] + list(extra))
            row = {"family": family, "command": f"liveinspect {shown} --out DIR", "exit": r.exit_text(),
                   "wall_s": round(r.wall_s, 1), "rss_mb": round(r.rss_mb), "bound_s": bound,
                   "within": r.rss_mb < RSS_LIMIT_MB and not r.killed and r.wall_s < bound,
                   "traceback": r.traceback, "last": r.last[:160],
                   "analyzers": [(s["name"], s["state"]) for s in (r.report() or {}).get("analyzers", [])]}
            rows.append(row)
            print(f"{family:42s} exit {row['exit']:>6}  {row['wall_s']:6.1f} s (bound {bound:.0f})  "
                  f"{row['rss_mb']:5d} MB  {'ok' if row['within'] else 'OVER'}"
                  f"{'  TRACEBACK' if r.traceback else ''}\n    {r.last[:150]}", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=Path("/tmp/baseline"),
                        help="a worktree of the pre-fix commit (git worktree add --detach DIR 3b998d3)")
    parser.add_argument("--rows", help="comma-separated rows (e.g. 3,5,15); default: all")
    parser.add_argument("--full", action="store_true", help="(b): full default-analyzer scans per family")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    rows = set(args.rows.split(",")) if args.rows else None
    ws = Path(tempfile.mkdtemp(prefix="hostile-regressions-"))
    try:
        if args.full:
            results = full_scans(ws, rows)
            print("\n| family | command | exit | wall (bound) | peak RSS |\n| --- | --- | --- | --- | --- |")
            for r in results:
                print(f"| {r['family']} | `{r['command']}` | {r['exit']} | {r['wall_s']} s "
                      f"({r['bound_s']:.0f} s) | {r['rss_mb']} MB |")
        else:
            if not (args.baseline / "liveinspect" / "cli.py").is_file():
                parser.error(f"{args.baseline} is not a worktree of 3b998d3 "
                             f"(git worktree add --detach {args.baseline} 3b998d3)")
            cases = build_cases(ws, args.baseline)
            results = run_cases(cases, args.baseline.resolve(), ws, rows)
            print("\n" + markdown_table(results))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    finally:
        if args.keep:
            print(f"scratch: {ws}", file=sys.stderr)
        else:
            shutil.rmtree(ws, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
