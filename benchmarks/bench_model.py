"""Training and inference throughput of the speaker models, fused vs naive attention.

    python benchmarks/bench_model.py                      # 14-layer 224 px and the CPU-sized model, CPU
    python benchmarks/bench_model.py --compile            # also the torch.compile path
    python benchmarks/bench_model.py --bf16               # also bfloat16 mixed precision
    python benchmarks/bench_model.py --device cuda        # on a GPU
"""
import argparse
import os
import platform

import torch

import specct.models  # noqa: F401  (registers the models)
from specct.models.benchmark import format_results, run_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=['speaker_vgg_cct_14_7x2_224', 'speaker_vgg_cct_7_7x2_112'])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=5, help='timed steps per path (median reported)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--compile', action='store_true', help='also time the model under torch.compile')
    parser.add_argument('--bf16', action='store_true', help='also time bfloat16 mixed precision (autocast)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    paths = ['naive', 'fused'] + (['compiled'] if args.compile else []) + (['bf16'] if args.bf16 else [])
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print(f'torch {torch.__version__}, {platform.processor() or platform.machine()}, '
          f'{torch.get_num_threads()} threads, device {args.device}, batch {args.batch}, load average {load:.1f}')
    results = run_benchmark(args.models, paths=paths, batch=args.batch, repeats=args.repeats,
                            warmup=args.warmup, device=args.device, seed=args.seed)
    print(format_results(results))


if __name__ == '__main__':
    main()
