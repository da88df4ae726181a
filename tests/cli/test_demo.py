"""`carewatch demo`: the whole product starts with no configuration, serves the dashboard,
fills the store from the sandbox, prints a login for every role, and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sandbox.control import SandboxControl
from tests.receivers import free_port

pytestmark = pytest.mark.slow


def test_demo_serves_dashboard_fills_store_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
    exe = Path(sys.executable).with_name("carewatch")
    proc = subprocess.Popen([str(exe), "demo", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner: list[str] = []
    try:
        deadline = time.monotonic() + 180
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            banner.append(line)
            if "Ctrl-C stops everything" in line:
                break
        text = "".join(banner)
        assert "carewatch demo is running" in text, text[-2000:]
        assert f"http://127.0.0.1:{port}" in text
        for role in ("agent", "manager", "analyst", "admin"):
            assert f"{role}-demo-pass" in text
        session = requests.Session()
        session.trust_env = False
        assert session.get(f"http://127.0.0.1:{port}", timeout=10).status_code == 200

        from sqlalchemy import create_engine
        from sqlalchemy import text as sql

        engine = create_engine(f"sqlite:///{tmp_path / '.demo' / 'carewatch.db'}")
        count = 0
        for _ in range(60):
            with engine.connect() as conn:
                count = conn.execute(sql("SELECT count(*) FROM mentions WHERE NOT is_own")
                                     ).scalar_one()
            if count > 100:
                break
            time.sleep(1)
        # The demo's rules are at work: urgent complaints go to the care team, praise on X
        # gets a thank-you held for the manager's approval.
        runs: dict[str, int] = {}
        for _ in range(60):
            with engine.connect() as conn:
                runs = dict(conn.execute(sql("SELECT rule, count(*) FROM rule_runs "
                                             "GROUP BY rule")).all())
                held = conn.execute(sql("SELECT count(*) FROM replies WHERE agent = "
                                        "'rule:thank praise' AND state = 'pending_approval'")
                                    ).scalar_one()
            if len(runs) == 2 and held:
                break
            time.sleep(1)
        engine.dispose()
        assert count > 100
        assert set(runs) == {"urgent to care", "thank praise"}, runs
        assert held > 0
        # Suggestions work on the demo's data: its knowledge base answers a bag complaint.
        with engine.connect() as conn:
            bag = conn.execute(sql("SELECT platform || ':' || external_id FROM mentions "
                                   "WHERE NOT is_own AND lower(text) LIKE '%lost luggage%' "
                                   "LIMIT 1")).scalar_one()
        engine.dispose()
        demo_env = {**env, "CAREWATCH_CONFIG": str(tmp_path / ".demo" / "carewatch.toml"),
                    "CAREWATCH_DATABASE_URL": f"sqlite:///{tmp_path / '.demo' / 'carewatch.db'}"}
        suggested = subprocess.run([str(exe), "suggest", bag, "--json"], cwd=tmp_path,
                                   env=demo_env, capture_output=True, text=True, timeout=60)
        assert suggested.returncode == 0, suggested.stderr
        found = json.loads(suggested.stdout)
        assert any(s["source"] == "knowledge" and "help.acmeair.example/baggage" in s["text"]
                   for s in found), found
        # The webhook receiver is subscribed in the sandbox and takes its deliveries.
        assert "webhooks: http://127.0.0.1:" in text
        sandbox_url = re.search(r"platform sandbox: (\S+)", text).group(1)
        control = SandboxControl(sandbox_url)
        status = control.webhooks()
        for _ in range(90):
            if status["delivered"] or status["failed"]:
                break
            time.sleep(1)
            status = control.webhooks()
        assert status["subscribed"]
        assert status["delivered"] > 0
        assert status["failed"] == 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(45)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
