"""CI must run what the README tells a new user to run, nothing different."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _first_command_after(heading: str, text: str) -> str:
    section = text.split(heading, 1)[1]
    return re.search(r"```bash\n(.+?)\n", section).group(1).strip()


def test_ci_runs_the_readme_setup_and_test_commands():
    readme = (ROOT / "README.md").read_text()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    for heading in ("## Set up", "## Test"):
        assert _first_command_after(heading, readme) in ci_lines, heading
