"""Write the weights a chain head offers as an aprvfi weights file, with its card (steps, legs, dev score).

python3 benchmarks/chain_weights.py chain/ runs/chain.pt
benchmarks/model_quality.sh runs/chain.pt runs/eval-chain     # score it beside flow-only
"""

from __future__ import annotations

import sys
from pathlib import Path

from aprvfi_cli.model.weights import save_weights
from aprvfi_cli.train.leg import chain_weights


def main() -> int:
    chain, out = Path(sys.argv[1]), Path(sys.argv[2])
    model, card = chain_weights(chain)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(out, model, card)
    progress = card["progress"]
    print(f"{out}: {card['weights']} weights at global step {progress['global_step']}, {len(card['legs'])} legs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
