"""``python main.py ...`` does the same as the ``spleenscope`` console script."""

from viewer.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
