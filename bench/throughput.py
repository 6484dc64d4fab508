"""Training throughput: tuneguard's pipeline against the notebook pipeline (same examples, one
process); prints one JSON object. A thin wrapper of `python -m tuneguard.bench.throughput`.

    python bench/throughput.py --model tiny [--steps 60] [--repeats 3] [--ablation] [--json]
    python bench/throughput.py --model gptj-6b --json       # on a GPU, see bench/gpu_gptj.sh
"""

from tuneguard.bench.throughput import main

if __name__ == "__main__":
    main()
