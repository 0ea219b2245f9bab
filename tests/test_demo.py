"""`make demo` is the main job; run it exactly as the Makefile does."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_runs_a_full_consult_offline():
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")
    }

    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "The answers are SCRIPTED" in out
    for label in ("Swift (scripted)", "Steady (scripted)", "Deep (scripted)"):
        assert f"{label}: first text visible in the thread" in out
        assert f"{label}: answer complete" in out
        assert f"*{label}* · " in out
    assert "synthesis posted: Synthesis · High: 3 of 3 independent answers agree" in out
    assert "*Recommended next step*" in out
    assert "Traceback" not in done.stderr
