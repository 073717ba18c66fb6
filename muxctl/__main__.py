"""`python -m muxctl` entry point."""

from muxctl.cli import main

if __name__ == "__main__":
    main()
