"""Speaker embeddings of every imported wav (resemblyzer), and optionally the PCA fitted on them.

    python preprocess_embedding.py                           # embed every corpus (resumes)
    python preprocess_embedding.py --eval_dataset EMODB      # also fit a PCA on every corpus but EMODB
    python preprocess_embedding.py --save_2D_embed_compare   # also draw images/speakers_2d_<CORPUS>.png

Without --eval_dataset no PCA is fitted here: preprocess_split_dataset.py fits one per split on its
training speakers only.
"""
import argparse

from specct.cli import ArgumentParser, add_datasets_arguments
from specct.errors import run_script
from specct.stages.embedding import run_embedding_stage


def main(argv=None):
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_datasets_arguments(p, "corpora to embed (default: all imported)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--batch_size", type=int, default=32, help="utterances per forward pass (default 32)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for the encoder (default: half the cores available, which keeps its "
                        "speed when other work shares the machine)")
    p.add_argument("--overwrite", action="store_true", help="re-embed every file, not only the missing ones")
    p.add_argument("--n_components", type=int, default=256,
                   help="PCA width (default 256; capped at the input width and the number of vectors)")
    p.add_argument("--eval_dataset", default=None,
                   help="held-out test corpus: fit and save a PCA on every other corpus")
    p.add_argument("--fit_on_all", action="store_true",
                   help="fit the PCA on every corpus, test corpus included (the paper's choice; LEAKS the test corpus)")
    p.add_argument("--encoder_dir", default="./encoder/models",
                   help="where fitted PCAs are saved as pca<K>_<C1+C2+...>.npz (default ./encoder/models)")
    p.add_argument("--save_2D_embed_compare", action="store_true",
                   help="save a t-SNE map per corpus, coloured by speaker, as <images_dir>/speakers_2d_<CORPUS>.png")
    p.add_argument("--images_dir", default="./images", help="where the 2-D maps go (default ./images)")
    p.add_argument("--seed", type=int, default=0, help="seed of the 2-D maps (default 0)")
    args = p.parse_args(argv)
    return run_script("preprocess_embedding.py", lambda: run_embedding_stage(
        datasets_dir=args.datasets_dir, datasets=args.datasets, device=args.device,
        batch_size=args.batch_size, n_components=args.n_components,
        eval_dataset=args.eval_dataset, fit_on_all=args.fit_on_all,
        encoder_dir=args.encoder_dir, save_2d=args.save_2D_embed_compare,
        images_dir=args.images_dir, overwrite=args.overwrite, seed=args.seed,
        threads=args.threads))


if __name__ == "__main__":
    raise SystemExit(main())
