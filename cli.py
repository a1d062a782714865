"""The `kit` command from a source checkout without installing it: `python cli.py check att`.
The command itself lives in src/transformer_kit/cli/ (installed as the `kit` script)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from transformer_kit.cli import main

if __name__ == "__main__":
    main()
