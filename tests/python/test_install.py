"""The Python client installed as a user installs it (clients/python/README.md):
a virtual environment over Debian's python3-grpcio, `pip install --no-index`
of build/python, then the README's quickstart run from outside the source tree
against a real dragon_node.

Run: POSTDEVAI_PYTHON_PACKAGE=build/python POSTDEVAI_DRAGON_NODE=build/bin/dragon_node \
         /usr/bin/python3 -m unittest -v test_install        (in tests/python)
(ctest runs it as `python_client_install`.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from node_process import NodeProcess  # noqa: E402

SOURCE_ROOT = Path(__file__).resolve().parents[2]


def package_root() -> Path:
    """build/python (or $POSTDEVAI_PYTHON_PACKAGE): what the build made installable."""
    path = Path(os.environ.get("POSTDEVAI_PYTHON_PACKAGE", SOURCE_ROOT / "build" / "python"))
    if not (path / "pyproject.toml").is_file() or not (path / "postdevai" / "memory").is_dir():
        raise RuntimeError(f"no built Python client at {path}: build the target postdevai_python_client")
    return path


def run(argv: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300)


class InstallTest(unittest.TestCase):
    def setUp(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="postdevai-py-install-"))
        self.addCleanup(shutil.rmtree, self.home, True)
        # Nothing of the build or the source tree on the path: only the venv.
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        self.env["HOME"] = str(self.home)
        self.env["PIP_NO_INDEX"] = "1"  # offline, as the README says
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"

    def test_readme_install_into_a_venv_then_quickstart_against_a_node(self) -> None:
        venv = self.home / "venvs" / "postdevai"
        made = run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)], self.home, self.env)
        self.assertEqual(made.returncode, 0, made.stderr)
        # pip builds the wheel in a copy: the build tree stays as it was.
        staged = self.home / "package"
        shutil.copytree(package_root(), staged, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        installed = run([str(venv / "bin" / "pip"), "install", "--no-index", "--no-deps", "--no-build-isolation",
                         str(staged)], self.home, self.env)
        self.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)
        shutil.rmtree(staged)  # the installed copy must not need the sources it came from

        # The package imports from the venv, not from anywhere else.
        where = run([str(venv / "bin" / "python"), "-c", "import postdevai, sys; print(postdevai.__file__)"],
                    self.home, self.env)
        self.assertEqual(where.returncode, 0, where.stderr)
        self.assertTrue(where.stdout.strip().startswith(str(venv)), where.stdout)

        with NodeProcess(name="install") as node:
            node.start()
            quickstart = SOURCE_ROOT / "clients" / "python" / "examples" / "quickstart.py"
            ran = run([str(venv / "bin" / "python"), str(quickstart), node.target], self.home, self.env)
            self.assertEqual(ran.returncode, 0, ran.stdout + ran.stderr + "\n--- node log ---\n" + node.log())
            self.assertIn("stored quickstart/settings.py as", ran.stdout)
            self.assertIn("metadata: ok", ran.stdout)

        # Against no node: the example reports it and fails, it does not hang.
        gone = run([str(venv / "bin" / "python"), str(quickstart), node.target], self.home, self.env)
        self.assertNotEqual(gone.returncode, 0, gone.stdout)


if __name__ == "__main__":
    unittest.main()
