"""Training and inference throughput of every model family, side by side in one run, with the
fraction of this machine's float32 matmul peak (measured in the same run) each reaches.

    python benchmarks/bench_model.py --quick              # smoke run: CPU-sized models, few steps
    python benchmarks/bench_model.py                      # CCTs and the related systems, both sizes, CPU
    python benchmarks/bench_model.py --compile            # also the torch.compile path
    python benchmarks/bench_model.py --bf16               # also bfloat16 mixed precision
    python benchmarks/bench_model.py --device cuda        # on a GPU
"""
import argparse
import os

import torch

import specct.models  # noqa: F401  (registers the models)
from specct.models.throughput import format_results, host_description, run_benchmark

CPU_SIZED = ['speaker_vgg_cct_7_7x2_112', 'cct_7_7x2_112', 'cnn_transformer_tiny_112', 'dcnn_blstm_attn_tiny_112',
             'cnn_lstm_tiny_112', 'speaker_cnn_transformer_tiny_112']
PAPER_SIZED = ['speaker_vgg_cct_14_7x2_224', 'cnn_transformer_224', 'dcnn_blstm_attn_224', 'cnn_lstm_224']


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=None, help='default: every family, paper- and CPU-sized')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=5, help='timed steps per path (median reported)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--compile', action='store_true', help='also time the model under torch.compile')
    parser.add_argument('--bf16', action='store_true', help='also time bfloat16 mixed precision (autocast)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: the CPU-sized models, batch 2, one timed step, a small peak matmul')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    models = args.models or (CPU_SIZED if args.quick else PAPER_SIZED + CPU_SIZED)
    batch, repeats, warmup, peak_size = (2, 1, 1, 1024) if args.quick else (args.batch, args.repeats, args.warmup, 2048)
    paths = ['naive', 'fused'] + (['compiled'] if args.compile else []) + (['bf16'] if args.bf16 else [])
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    print(f'torch {torch.__version__}, device {args.device}, batch {batch}, load average {load:.1f}'
          f'{", QUICK smoke run: numbers are not measurements" if args.quick else ""}')
    print(host_description())
    results = run_benchmark(models, paths=paths, batch=batch, repeats=repeats, warmup=warmup, device=args.device,
                            seed=args.seed, peak_size=peak_size)
    print(format_results(results))


if __name__ == '__main__':
    main()
