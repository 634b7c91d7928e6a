"""Speed and FLOPs, static vs APR: ``aprvfi bench``. Usage: python benchmarks/model_speed.py --help"""

import sys

from aprvfi_cli.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
