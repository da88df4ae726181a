"""`carewatch dashboard [--port N]`: the Streamlit dashboard on 127.0.0.1, headless.

Streamlit runs as a child process (`python -m streamlit run dashboard/app.py`) with every
server option on the command line, so no `.streamlit/config.toml` is needed or trusted. The
app reads the same configuration as the CLI: `--config` is passed on as `CAREWATCH_CONFIG`
(absolute), and `CAREWATCH_*` environment variables pass through unchanged.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import typer

from carewatch.cli import app
from carewatch.cli.common import UsageError, app_context, rules_ready

APP_PATH = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def streamlit_command(port: int, *, python: str | None = None) -> list[str]:
    """The exact command line that serves the dashboard on 127.0.0.1:`port`."""
    return [
        python or sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--client.showErrorDetails", "none",
        "--client.toolbarMode", "minimal",
        "--global.developmentMode", "false",
    ]


def dashboard_env(config_path: str | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ours, plus the configuration file as an absolute path."""
    env = dict(os.environ if base is None else base)
    if config_path:
        env["CAREWATCH_CONFIG"] = str(Path(config_path).expanduser().resolve())
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    env["STREAMLIT_SERVER_HEADLESS"] = "true"
    return env


def _check_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UsageError(f"--port {port}: cannot listen on 127.0.0.1:{port} "
                             f"({exc.strerror or exc})") from None


@app.command("dashboard")
def dashboard_command(
    ctx: typer.Context,
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port on 127.0.0.1."),
) -> None:
    """Serve the Streamlit dashboard on 127.0.0.1 until Ctrl-C."""
    context = app_context(ctx)
    rules_ready(context)  # a bad config or a store without schema fails here, in one line
    context.close()
    _check_port(port)
    print(f"dashboard: http://127.0.0.1:{port}", file=sys.stderr)
    child = subprocess.Popen(streamlit_command(port), env=dashboard_env(context.config_path))

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code not in (0, -signal.SIGINT, -signal.SIGTERM):
        raise typer.Exit(1)
