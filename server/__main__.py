"""`python -m server ...` runs the `hearth` command, exactly as the console script does."""

from server.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
