"""Speaker embeddings of every imported wav (resemblyzer), and optionally the PCA fitted on them.

    specct embed                           # embed every corpus (resumes)   (or: python preprocess_embedding.py)
    specct embed --eval_dataset EMODB      # also fit a PCA on every corpus but EMODB
    specct embed --save_2D_embed_compare   # also draw images/speakers_2d_<CORPUS>.png

Without --eval_dataset no PCA is fitted here: the split (specct split, preprocess_split_dataset.py)
fits one per split on its training speakers only.
"""
from __future__ import annotations

from ..core.cli import ArgumentParser, RawDescriptionHelpFormatter, add_datasets_arguments, add_progress_argument
from ..core.errors import run_script
from ..stages.embedding import run_embedding_stage


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="preprocess_embedding.py", description=__doc__, formatter_class=RawDescriptionHelpFormatter)
    add_datasets_arguments(p, "corpora to embed (default: all imported)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--batch_size", type=int, default=32, help="utterances per forward pass (default: 32)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for the encoder (default: half the cores available, which keeps its "
                        "speed when other work shares the machine)")
    p.add_argument("--overwrite", action="store_true", help="re-embed every file, not only the missing ones")
    p.add_argument("--n_components", type=int, default=256,
                   help="PCA width (default: 256; capped at the input width and the number of vectors)")
    p.add_argument("--eval_dataset", default=None,
                   help="held-out test corpus: fit and save a PCA on every other corpus")
    p.add_argument("--fit_on_all", action="store_true",
                   help="fit the PCA on every corpus, test corpus included (the paper's choice; LEAKS the test corpus)")
    p.add_argument("--encoder_dir", default="./encoder/models",
                   help="where fitted PCAs are saved as pca<K>_<C1+C2+...>.npz (default: ./encoder/models)")
    p.add_argument("--save_2D_embed_compare", action="store_true",
                   help="save a t-SNE map per corpus, coloured by speaker, as <images_dir>/speakers_2d_<CORPUS>.png")
    p.add_argument("--images_dir", default="./images", help="where the 2-D maps go (default: ./images)")
    p.add_argument("--seed", type=int, default=0, help="seed of the 2-D maps (default: 0)")
    add_progress_argument(p)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_script(parser.prog, lambda: run_embedding_stage(
        datasets_dir=args.datasets_dir, datasets=args.datasets, device=args.device,
        batch_size=args.batch_size, n_components=args.n_components,
        eval_dataset=args.eval_dataset, fit_on_all=args.fit_on_all,
        encoder_dir=args.encoder_dir, save_2d=args.save_2D_embed_compare,
        images_dir=args.images_dir, overwrite=args.overwrite, seed=args.seed,
        threads=args.threads, progress=not args.no_progress))
