"""Speed and FLOPs, static vs APR (see aprvfi_cli/eval/speed.py). Usage: python benchmarks/model_speed.py --help"""

import sys

from aprvfi_cli.errors import AprvfiError
from aprvfi_cli.eval.speed import main

if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except AprvfiError as error:
        print(f"model_speed: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
