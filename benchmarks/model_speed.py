"""Speed and FLOPs, static vs APR (see aprvfi_cli/eval/speed.py). Usage: python benchmarks/model_speed.py --help"""

import sys

from aprvfi_cli.eval.speed import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
