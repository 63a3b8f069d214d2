#!/usr/bin/env python3
"""OpenIDDS developer entry point: ``python3 dev.py run`` and ``python3 dev.py test``.

Standard library only, and runnable by an older ``python3`` (3.8 or newer): it finds
a Python >= 3.12 on its own, builds ``.venv`` from the hash-pinned lock
``requirements/dev.lock`` and installs the project into it in editable mode.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

# What `dev.py demo-sim` simulates.
DEMO_SCENARIO = "examples/01-new-implant-priming.toml"
# Where `dev.py run` serves the clinic web app.
DEFAULT_ADDRPORT = "127.0.0.1:8000"

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
LOCK = ROOT / "requirements" / "dev.lock"
PYPROJECT = ROOT / "pyproject.toml"
PYTHON_VERSION_FILE = ROOT / ".python-version"
STAMP = VENV / ".openidds-bootstrap.json"
MIN_PYTHON = (3, 12)
# Bump to force every checkout to reinstall after a change to the install steps below.
BOOTSTRAP_VERSION = 1
PIP_QUIET = ["--disable-pip-version-check", "--no-input"]
EDITABLE = ["--no-deps", "--no-build-isolation", "-e", "."]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
LOCK_COMMAND = [
    "pip",
    "compile",
    "pyproject.toml",
    "--extra",
    "dev",
    "--universal",
    "--generate-hashes",
    "--python-version",
    "3.12",
    "-o",
    "requirements/dev.lock",
]

HELP_EPILOG = f"""\
commands:
  bootstrap   create .venv with Python >= 3.12 and install requirements/dev.lock and the
              project (editable); skipped when the lock and pyproject.toml are unchanged
  run         bootstrap, then the clinic web app: migrate the database (default SQLite at
              var/openidds.sqlite3, or DATABASE_URL), load the demo clinic (openidds demo),
              print the demo log-ins and serve on http://{DEFAULT_ADDRPORT}/ (or the
              [ADDR:]PORT given) until Ctrl-C
  demo-sim    bootstrap, then: openidds simulate {DEMO_SCENARIO} [ARGS...]
  test        bootstrap, then in order, stopping at the first failure with its exit code:
              ruff check . / ruff format --check . / mypy / lint-imports / pytest [ARGS...]
              (pytest gets -n auto when there is more than one CPU; the web tests run on
              SQLite), then with OPENIDDS_TEST_POSTGRES=1 pytest tests/web [ARGS...] again
              on PostgreSQL, then with OPENIDDS_TEST_BROWSER=1 pytest tests/browser
              [ARGS...] serially (no xdist; Playwright and /usr/bin/chromium)
  lock        regenerate requirements/dev.lock with uv (installed into a temporary venv
              when uv is not on PATH):
              uv {" ".join(LOCK_COMMAND)}

environment:
  OPENIDDS_TEST_POSTGRES=1  test: run the web tests a second time on PostgreSQL at
                            DATABASE_URL (default {DEFAULT_DATABASE_URL}; pytest-django
                            creates and drops test_<name>); the first run ignores DATABASE_URL
  OPENIDDS_TEST_BROWSER=1   test: also run the browser suite tests/browser, last and
                            serially, on SQLite (needs /usr/bin/chromium: `apt-get install
                            chromium`); without it the suite is collected and skipped.
                            Screenshots, axe-core results and console logs go to
                            test-artifacts/browser/
  OPENIDDS_PYTHON=PATH      use this interpreter for .venv instead of searching for one
  OPENIDDS_NO_UV=1          install with pip even when uv is on PATH

The interpreter search order: OPENIDDS_PYTHON; the version in .python-version through
pyenv (`pyenv which`, then $(pyenv root)/versions/X.Y*); the running interpreter when it
is >= 3.12; python3.13 and python3.12 on PATH; any pyenv 3.13 or 3.12.
"""


def say(message: str) -> None:
    print(f"dev.py: {message}", flush=True)


def die(message: str, code: int = 1) -> NoReturn:
    print(f"dev.py: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def run_checked(cmd: list[str], env: dict[str, str] | None = None, quiet: bool = False) -> None:
    """Run cmd from the repository root; exit with its status if it fails."""
    rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL if quiet else None)
    if rc != 0:
        die(f"command failed with exit code {rc}: {' '.join(cmd)}", rc)


# --- finding a Python >= 3.12 ---------------------------------------------------------

_PROBE = "import sys, venv; print(sys.version_info[0], sys.version_info[1], sys.executable)"


def probe(python: str) -> tuple[tuple[int, int], str] | None:
    """(major, minor) and the real executable path of python, or None if it is unusable."""
    try:
        out = subprocess.run(
            [python, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    try:
        major, minor, executable = out.stdout.strip().split(" ", 2)
        return (int(major), int(minor)), executable
    except ValueError:
        return None


def preferred_version() -> str | None:
    """The first version named in .python-version, e.g. '3.13'."""
    try:
        for line in PYTHON_VERSION_FILE.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                return line
    except OSError:
        pass
    return None


def pyenv_root() -> Path | None:
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            out = subprocess.run(
                [pyenv, "root"], capture_output=True, text=True, timeout=30, check=False
            )
            if out.returncode == 0 and out.stdout.strip():
                return Path(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    env_root = os.environ.get("PYENV_ROOT")
    for root in (Path(env_root) if env_root else None, Path.home() / ".pyenv"):
        if root is not None and (root / "versions").is_dir():
            return root
    return None


def _version_key(path: str) -> tuple[int, ...]:
    name = Path(path).parent.parent.name  # .../versions/3.13.0/bin/python3
    parts = []
    for piece in name.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def pyenv_glob(root: Path | None, version: str) -> list[str]:
    if root is None:
        return []
    found = glob.glob(str(root / "versions" / f"{version}*" / "bin" / "python3"))
    # Plain releases only (skip e.g. 3.13.0t free-threaded or -dev builds), newest first.
    found = [p for p in found if Path(p).parent.parent.name.replace(".", "").isdigit()]
    return sorted(found, key=_version_key, reverse=True)


def python_candidates() -> list[str]:
    candidates: list[str] = []
    override = os.environ.get("OPENIDDS_PYTHON")
    if override:
        return [override]
    preferred = preferred_version()
    root = pyenv_root()
    if preferred:
        pyenv = shutil.which("pyenv")
        if pyenv:
            major_minor = ".".join(preferred.split(".")[:2])
            try:
                out = subprocess.run(
                    [pyenv, "which", f"python{major_minor}"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    cwd=ROOT,
                    check=False,
                )
                if out.returncode == 0 and out.stdout.strip():
                    candidates.append(out.stdout.strip())
            except (OSError, subprocess.SubprocessError):
                pass
        candidates += pyenv_glob(root, preferred)
    if sys.version_info[:2] >= MIN_PYTHON:
        candidates.append(sys.executable)
    for name in ("python3.13", "python3.12"):
        path = shutil.which(name)
        if path:
            candidates.append(path)
    for version in ("3.13", "3.12"):
        candidates += pyenv_glob(root, version)
    return candidates


def find_python() -> tuple[tuple[int, int], str]:
    tried: list[str] = []
    for candidate in python_candidates():
        if candidate in tried:
            continue
        tried.append(candidate)
        found = probe(candidate)
        if found is not None and found[0] >= MIN_PYTHON:
            return found
    die(
        "no Python >= 3.12 found (tried: "
        + (", ".join(tried) or "nothing")
        + "). Install one, e.g. `pyenv install 3.13`, or set OPENIDDS_PYTHON=/path/to/python3."
    )


# --- the virtual environment ----------------------------------------------------------


def find_uv() -> str | None:
    if os.environ.get("OPENIDDS_NO_UV") == "1":
        return None
    return shutil.which("uv")


def inputs_digest() -> str:
    digest = hashlib.sha256()
    for path in (LOCK, PYPROJECT):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def venv_version() -> tuple[int, int] | None:
    if not VENV_PYTHON.exists():
        return None
    found = probe(str(VENV_PYTHON))
    return found[0] if found else None


def read_stamp() -> dict[str, object]:
    try:
        data = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def wanted_stamp(version: tuple[int, int]) -> dict[str, object]:
    return {
        "bootstrap_version": BOOTSTRAP_VERSION,
        "inputs_sha256": inputs_digest(),
        "python": f"{version[0]}.{version[1]}",
        "python_choice": [os.environ.get("OPENIDDS_PYTHON", ""), preferred_version() or ""],
        "venv": str(VENV),
    }


def create_venv(python: str, uv: str | None) -> None:
    if VENV.exists() or VENV.is_symlink():
        say(f"removing {VENV.name}")
        if VENV.is_symlink() or VENV.is_file():
            VENV.unlink()
        else:
            shutil.rmtree(VENV)
    say(f"creating {VENV.name} with {python}")
    if uv:
        run_checked([uv, "venv", "--quiet", "--python", python, str(VENV)])
    else:
        run_checked([python, "-m", "venv", str(VENV)])


def install(uv: str | None) -> None:
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    env["VIRTUAL_ENV"] = str(VENV)
    if uv:
        env.setdefault("UV_LINK_MODE", "copy")  # no hardlink warnings across filesystems
        py = ["--python", str(VENV_PYTHON)]
        say(f"installing {LOCK.relative_to(ROOT)} with uv")
        run_checked([uv, "pip", "sync", "--quiet", *py, "--require-hashes", str(LOCK)], env)
        say("installing openidds (editable) with uv")
        run_checked([uv, "pip", "install", "--quiet", *py, *EDITABLE], env)
        return
    pip = [str(VENV_PYTHON), "-m", "pip"]
    if subprocess.call([*pip, "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        run_checked([str(VENV_PYTHON), "-m", "ensurepip", "--default-pip"], env)
    say(f"installing {LOCK.relative_to(ROOT)} with pip (a minute or two the first time)")
    # -qq: this also hides pip's warnings about unreachable extra indexes in local pip
    # configs; errors (a hash mismatch, say) are still shown.
    run_checked([*pip, "install", "-qq", *PIP_QUIET, "--require-hashes", "-r", str(LOCK)], env)
    say("installing openidds (editable) with pip")
    run_checked([*pip, "install", "-qq", *PIP_QUIET, *EDITABLE], env)


def bootstrap(force: bool = False) -> None:
    """Make .venv match the lock and pyproject.toml; fast when nothing changed."""
    if not LOCK.is_file():
        die(f"{LOCK.relative_to(ROOT)} is missing; run `python3 dev.py lock`")
    stamp = read_stamp()
    have = venv_version()
    # The stamp also records what chose the interpreter (OPENIDDS_PYTHON, .python-version),
    # so changing either makes the next run search again.
    if (
        not force
        and have is not None
        and stamp == wanted_stamp(have)
        and (VENV_BIN / "openidds").exists()
    ):
        return
    version, python = find_python()
    uv = find_uv()
    recreate = (
        force
        or have != version
        or stamp.get("venv") not in (None, str(VENV))  # moved checkout: stale shebangs
        or not (VENV / "pyvenv.cfg").is_file()
    )
    if recreate:
        create_venv(python, uv)
    if STAMP.exists():
        STAMP.unlink()
    install(uv)
    if not (VENV_BIN / "openidds").exists():
        die(f"{VENV_BIN / 'openidds'} was not created; check [project.scripts] in pyproject")
    STAMP.write_text(json.dumps(wanted_stamp(version), indent=2) + "\n")
    say(f"{VENV.name} is ready (Python {version[0]}.{version[1]})")


def venv_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = str(VENV_BIN) + os.pathsep + env.get("PATH", "")
    return env


# --- commands -------------------------------------------------------------------------


def cmd_bootstrap(args: argparse.Namespace) -> int:
    bootstrap(force=args.force)
    say(f"{VENV.name} is up to date")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    bootstrap()
    if len(args.args) > 1:
        die("usage: python3 dev.py run [[ADDR:]PORT]", 2)
    addrport = args.args[0] if args.args else DEFAULT_ADDRPORT
    openidds = str(VENV_BIN / "openidds")
    env = venv_env()
    # Development mode (a dev secret key, cookies over plain http) unless configured.
    if not env.get("OPENIDDS_SECRET_KEY"):
        env.setdefault("OPENIDDS_DEBUG", "1")
    say("openidds demo (migrate, then the demo clinic and log-ins)")
    rc = subprocess.call([openidds, "demo"], cwd=ROOT, env=env)
    if rc != 0:
        return rc
    host = addrport if ":" in addrport else f"127.0.0.1:{addrport}"
    say(f"serving the clinic app on http://{host}/ (log in at /accounts/login/; Ctrl-C stops)")
    try:
        return subprocess.call([openidds, "serve", addrport], cwd=ROOT, env=env)
    except KeyboardInterrupt:
        return 0


def cmd_demo_sim(args: argparse.Namespace) -> int:
    bootstrap()
    if not (ROOT / DEMO_SCENARIO).is_file():
        die(f"{DEMO_SCENARIO} does not exist (yet)")
    cmd = [str(VENV_BIN / "openidds"), "simulate", DEMO_SCENARIO, *args.args]
    say(" ".join(["openidds", *cmd[1:]]))
    return subprocess.call(cmd, cwd=ROOT, env=venv_env())


BROWSER_TESTS = "tests/browser"


def is_test_path(arg: str) -> bool:
    return arg.startswith("tests")


def is_browser_path(arg: str) -> bool:
    path = arg.split("::", 1)[0].rstrip("/")
    return path == BROWSER_TESTS or path.startswith(BROWSER_TESTS + "/")


def without_xdist(extra: list[str]) -> list[str]:
    """extra without -n/--numprocesses (and their values): the browser suite runs serially."""
    out: list[str] = []
    skip_next = False
    for arg in extra:
        if skip_next:
            skip_next = False
        elif arg in ("-n", "--numprocesses"):
            skip_next = True
        elif not (arg.startswith("--numprocesses=") or (arg.startswith("-n") and arg != "-n")):
            out.append(arg)
    return out


def pytest_args(extra: list[str]) -> list[str]:
    args = ["-p", "no:cacheprovider"]
    wants_own_n = any(
        a in ("-n", "--numprocesses", "no:xdist") or a.startswith(("-n", "--numprocesses="))
        for a in extra
    )
    if (os.cpu_count() or 1) > 1 and not wants_own_n:
        args += ["-n", "auto"]
    return args + extra


def cmd_test(args: argparse.Namespace) -> int:
    bootstrap()
    env = venv_env()
    postgres_url = env.pop("DATABASE_URL", None) or DEFAULT_DATABASE_URL
    bin_ = str(VENV_BIN)
    browser = env.get("OPENIDDS_TEST_BROWSER") == "1"
    paths = [a for a in args.args if is_test_path(a)]
    browser_paths = [a for a in paths if is_browser_path(a)]
    # With the browser suite on, it runs on its own at the end (serially), not in the xdist
    # run; asked for nothing but browser tests, the other pytest runs are left out.
    only_browser = browser and bool(paths) and len(browser_paths) == len(paths)
    main_pytest = [f"{bin_}/python", "-m", "pytest", *pytest_args(args.args)]
    if browser:
        main_pytest.append(f"--ignore={BROWSER_TESTS}")
    steps = [
        ("ruff check", [f"{bin_}/ruff", "check", "."]),
        ("ruff format --check", [f"{bin_}/ruff", "format", "--check", "."]),
        ("mypy", [f"{bin_}/mypy"]),
        ("lint-imports", [f"{bin_}/lint-imports"]),
    ]
    if not only_browser:
        steps.append(("pytest", main_pytest))
    for name, cmd in steps:
        print(f"==> {name}", flush=True)
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
        if rc != 0:
            if name == "pytest" and rc == 5:
                say("pytest collected no tests (exit code 5)")
            say(f"step '{name}' failed with exit code {rc}")
            return rc
    if env.get("OPENIDDS_TEST_POSTGRES") == "1" and not only_browser:
        print(f"==> pytest tests/web on PostgreSQL ({postgres_url})", flush=True)
        pg_env = {**env, "DATABASE_URL": postgres_url}
        # The browser suite runs on SQLite only (below).
        cmd = [f"{bin_}/python", "-m", "pytest", *pytest_args(args.args)]
        cmd.append(f"--ignore={BROWSER_TESTS}")
        if not paths:
            cmd.append("tests/web")
        rc = subprocess.call(cmd, cwd=ROOT, env=pg_env)
        if rc == 5:
            say("no web tests selected for the PostgreSQL run")
        elif rc != 0:
            say(f"step 'pytest on PostgreSQL' failed with exit code {rc}")
            return rc
    if browser:
        if paths and not browser_paths:
            say(f"no browser tests selected ({BROWSER_TESTS} not among the paths given)")
            return 0
        print(f"==> pytest {BROWSER_TESTS} (Playwright, Chromium; serially)", flush=True)
        extra = [a for a in without_xdist(args.args) if not is_test_path(a) or is_browser_path(a)]
        cmd = [f"{bin_}/python", "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist"]
        cmd += extra if browser_paths else [*extra, BROWSER_TESTS]
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
        if rc == 5:
            say("pytest collected no browser tests (exit code 5)")
        if rc != 0:
            say(f"step 'pytest {BROWSER_TESTS}' failed with exit code {rc}")
            return rc
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    del args
    uv = shutil.which("uv")
    # The lock is for Python 3.12 and 3.13; uv must not try to download an interpreter.
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    if uv:
        run_checked([uv, *LOCK_COMMAND], quiet=True)
        say(f"wrote {LOCK.relative_to(ROOT)}")
        return 0
    _, python = find_python()
    with tempfile.TemporaryDirectory(prefix="openidds-uv-") as tmp:
        say("uv is not on PATH; installing it into a temporary venv")
        run_checked([python, "-m", "venv", tmp])
        run_checked([f"{tmp}/bin/python", "-m", "pip", "install", "-q", *PIP_QUIET, "uv"])
        run_checked([f"{tmp}/bin/uv", *LOCK_COMMAND], quiet=True)
    say(f"wrote {LOCK.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 dev.py",
        description="Bootstrap, run and test OpenIDDS.",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="{bootstrap,run,demo-sim,test,lock}")
    p_boot = sub.add_parser("bootstrap", help="create or update .venv")
    p_boot.add_argument("--force", action="store_true", help="recreate .venv from scratch")
    p_boot.set_defaults(func=cmd_bootstrap)
    p_run = sub.add_parser(
        "run",
        help=f"bootstrap, migrate, load the demo and serve the clinic app on {DEFAULT_ADDRPORT}",
        usage="python3 dev.py run [[ADDR:]PORT]",
    )
    p_run.set_defaults(func=cmd_run)
    p_sim = sub.add_parser(
        "demo-sim",
        help=f"bootstrap, then simulate {DEMO_SCENARIO}",
        usage="python3 dev.py demo-sim [ARGS for openidds simulate ...]",
    )
    p_sim.set_defaults(func=cmd_demo_sim)
    p_test = sub.add_parser(
        "test",
        help="bootstrap, then ruff, mypy, lint-imports and pytest",
        usage="python3 dev.py test [ARGS for pytest ...]",
    )
    p_test.set_defaults(func=cmd_test)
    p_lock = sub.add_parser("lock", help="regenerate requirements/dev.lock with uv")
    p_lock.set_defaults(func=cmd_lock)
    # Unknown arguments after `run`, `demo-sim` or `test` go to runserver, openidds or pytest.
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if extra and args.command not in ("run", "demo-sim", "test"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra[:1] == ["--"]:
        extra = extra[1:]
    args.args = extra
    os.chdir(ROOT)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
