"""Training a baseline on a split: ``train_baseline(args)``, called by ``specct.train.train`` for baseline names.

Rows: the split's train.csv and validation.csv, one row per source wav (augmented images of a wav
share its features, so they add nothing here). Features: the cached vectors of those wavs. Scaling:
fitted on training rows only. Hyper-parameters and the head's best epoch: chosen on validation
rows only. Refit (the default; ``--no_refit`` keeps the first fit): the chosen hyper-parameters (or
the head's chosen epoch count, from the same seed) are fitted again, scaler included, on the
training + validation rows, and that is the saved model. Output, in the run's folder: args.yaml,
summary.csv (one row per grid candidate, or per epoch of the torch head, of the choice on
validation), model_best.skops.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import split_rows as split_data
from ..core.errors import InputError
from ..core.fileio import write_csv_atomic
from ..protocol import runs
from . import BASELINES, MODEL_NAME
from .classifiers import SKLEARN_KINDS, fit_sklearn, refit_sklearn, train_head
from .features import FeatureSpec, features_for_wavs, parse_features
from .model import BaselineModel, save_model
from .scaling import FeatureScaler

TRANSDUCTIVE_NOTE = ("transductive: test rows are scaled by the statistics of their own {unit} "
                     "(unlabelled test audio is read before predicting)")


def feature_spec(args: argparse.Namespace) -> FeatureSpec:
    baseline = BASELINES[args.model]
    text = getattr(args, "features", None) or baseline.features
    if not text:
        raise InputError(f"--model {args.model} needs --features ssl:<hub name or local model directory>")
    return parse_features(text, getattr(args, "layer", None), getattr(args, "whisper_input", None),
                          getattr(args, "whisper_precision", None))


def run_name(args: argparse.Namespace) -> str:
    """``egemaps_svm``; with features other than the baseline's default, ``<model>-<feature set>``."""
    spec = feature_spec(args)
    default = BASELINES[args.model].features
    if default and spec == parse_features(default):
        return args.model
    layer = f"_layer{spec.layer}" if spec.kind == "whisper" and spec.layer != "all" else ""  # one cache, many layers
    return f"{args.model}-{spec.name}{layer}"


def scaling_groups(frame: pd.DataFrame, mode: str):
    return {"corpus": frame["corpus"], "speaker": frame["speaker"]}.get(mode)


def scaling_record(mode: str) -> dict:
    """What args.yaml and performance.yaml say about the scaling."""
    transductive = mode in ("corpus", "speaker")
    return {"mode": mode, "transductive": transductive,
            "note": TRANSDUCTIVE_NOTE.format(unit=mode) if transductive else
            "inductive: every row scaled by the pooled training statistics"}


def refit_wanted(args: argparse.Namespace) -> bool:
    """A baseline refits unless ``--no_refit`` (``refit`` False); None, the flag's default, means yes."""
    return getattr(args, "refit", None) is not False


def choose_layer(kind: str, x_train, y_train, x_val, y_val, train_frame, val_frame, args, log) -> tuple[int, list]:
    """The layer (and, inside it, C) of the best validation UAR over every layer's grid; ties: the
    earlier layer. Each layer is scaled on its own training rows, as the chosen one is afterwards."""
    if len(y_val) == 0:
        raise InputError("no validation rows to choose the Whisper layer on; "
                         "give it: --features whisper:<source>:<layer>")
    class_weight = "balanced" if args.class_weights == "balanced" else None
    rows, best = [], None
    for layer in range(x_train.shape[1]):
        scaler = FeatureScaler(args.scaling).fit(x_train[:, layer])
        xs_train = scaler.transform(x_train[:, layer], scaling_groups(train_frame, args.scaling))
        xs_val = scaler.transform(x_val[:, layer], scaling_groups(val_frame, args.scaling))
        _, layer_rows, chosen = fit_sklearn(kind, xs_train, y_train, xs_val, y_val, args.svm_c, args.svm_gamma,
                                            class_weight, args.seed, lambda *a: None)
        rows += [{"layer": layer, **row} for row in layer_rows]
        log(f"layer {layer}: C {chosen['C']:g}  val_uar {chosen['val_uar']:.3f}")
        if best is None or chosen["val_uar"] > best[1]["val_uar"]:
            best = (layer, chosen)
    for row in rows:
        row["chosen"] = row["layer"] == best[0] and row["chosen"]
    log(f"layer {best[0]} chosen on validation (val_uar {best[1]['val_uar']:.4f})")
    return best[0], rows


def read_rows(path: Path, class_names) -> pd.DataFrame:
    frame = split_data.read_split(path, class_names)
    return frame.drop_duplicates("wav").reset_index(drop=True)


def train_baseline(args: argparse.Namespace) -> Path:
    """Fit the baseline the flags name; returns the output folder."""
    log = (lambda *a, **k: None) if getattr(args, "quiet", False) else print
    baseline = BASELINES[args.model]
    spec = feature_spec(args)
    train_dir = runs.resolve_train_dir(args.data_dir)
    class_names = list(split_data.read_class_names(train_dir))
    if args.num_classes is not None and args.num_classes != len(class_names):
        raise InputError(f"--num-classes {args.num_classes} but {train_dir / 'classes.txt'} lists "
                         f"{len(class_names)} classes ({', '.join(class_names)})")
    out_dir = runs.output_dir(args, train_dir, run_name(args))
    train_frame = read_rows(train_dir / "train.csv", class_names)
    val_frame = read_rows(train_dir / "validation.csv", class_names)
    if len(train_frame) == 0:
        raise InputError(f"{train_dir}: empty train split")
    if len(val_frame) == 0 and baseline.classifier not in SKLEARN_KINDS:
        raise InputError(f"{train_dir}: empty validation split (--validation none); {args.model}'s head keeps "
                         "its best validation epoch, which needs validation rows")
    if train_frame["target"].nunique() < 2:
        raise InputError(f"{train_dir / 'train.csv'}: the training rows hold one class only "
                         f"({train_frame['label'].iloc[0]}); a classifier needs two or more")
    x_train = features_for_wavs(train_frame["wav"], spec)
    x_val = (features_for_wavs(val_frame["wav"], spec) if len(val_frame)    # --validation none: no rows
             else np.zeros((0, *x_train.shape[1:]), np.float32))
    y_train = train_frame["target"].to_numpy()
    y_val = val_frame["target"].to_numpy()
    layer_rows = None
    if spec.kind == "whisper" and spec.layer == "all" and baseline.classifier in SKLEARN_KINDS:
        layer, layer_rows = choose_layer(baseline.classifier, x_train, y_train, x_val, y_val, train_frame, val_frame,
                                         args, log)
        spec = dataclasses.replace(spec, layer=layer)
        x_train, x_val = x_train[:, layer], x_val[:, layer]
    scaler = FeatureScaler(args.scaling).fit(x_train)
    xs_train = scaler.transform(x_train, scaling_groups(train_frame, args.scaling))
    xs_val = scaler.transform(x_val, scaling_groups(val_frame, args.scaling))
    scaling = scaling_record(args.scaling)
    if scaling["transductive"]:
        log(f"WARNING: --scaling {args.scaling} is {scaling['note']}")

    refit = refit_wanted(args)
    union = refit and len(val_frame) > 0     # no validation rows: the one fit already saw every row
    out_dir.mkdir(parents=True, exist_ok=True)
    recorded = argparse.Namespace(**{**vars(args), "refit": refit}, feature_set=spec.as_dict(),
                                  scaling_transductive=scaling["transductive"], scaling_note=scaling["note"])
    runs.write_args(out_dir, recorded, train_dir)
    log(f"training {args.model} on {spec.name} features of {len(train_frame)} wavs ({len(val_frame)} validation), "
        f"{len(class_names)} classes, {args.scaling} scaling; output {out_dir}")
    class_weight = "balanced" if args.class_weights == "balanced" else None
    if baseline.classifier in SKLEARN_KINDS:
        width = xs_train[0].size   # explicit, as -1 cannot be inferred for zero validation rows
        estimator, rows, best = fit_sklearn(baseline.classifier, xs_train.reshape(len(xs_train), width), y_train,
                                            xs_val.reshape(len(xs_val), width), y_val, args.svm_c, args.svm_gamma,
                                            class_weight, args.seed, log)
        write_csv_atomic(out_dir / runs.SUMMARY_NAME, pd.DataFrame(layer_rows or rows))
        classifier = {"kind": "sklearn", "estimator": estimator}
        chosen = {"C": best["C"], **({"gamma": best["gamma"]} if baseline.classifier == "svm_rbf" else {}),
                  **({"layer": int(spec.layer)} if layer_rows else {})}
    else:
        head, history, best = train_head(baseline.classifier, xs_train, y_train, xs_val, y_val, len(class_names),
                                         args, log)
        runs.write_summary(out_dir, history)
        classifier = {"kind": "torch_head", "config": head.config(),
                      "state": {k: v.detach().cpu().numpy() for k, v in head.state_dict().items()}}
        chosen = {"epoch": best["epoch"]}
    fitted_frame = train_frame
    if union:
        # The chosen hyper-parameters again, on training + validation rows: the scaler is fitted anew
        # on the union (so the saved model is one pipeline), then the classifier on its scaled rows.
        fitted_frame = pd.concat([train_frame, val_frame], ignore_index=True)
        x_all, y_all = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
        scaler = FeatureScaler(args.scaling).fit(x_all)
        xs_all = scaler.transform(x_all, scaling_groups(fitted_frame, args.scaling))
        log(f"refit on {len(train_frame)} train + {len(val_frame)} validation rows")
        if baseline.classifier in SKLEARN_KINDS:
            estimator = refit_sklearn(baseline.classifier, best, xs_all.reshape(len(xs_all), xs_all[0].size), y_all,
                                      class_weight, args.seed)
            classifier = {"kind": "sklearn", "estimator": estimator}
        else:
            fixed = argparse.Namespace(**{**vars(args), "epochs": int(best["epoch"]), "patience": 0})
            head, _, _ = train_head(baseline.classifier, xs_all, y_all, xs_all[:0], y_all[:0], len(class_names),
                                    fixed, log)
            classifier = {"kind": "torch_head", "config": head.config(),
                          "state": {k: v.detach().cpu().numpy() for k, v in head.state_dict().items()}}
    info = {"hyperparameters": chosen, "validation": {k: best[k] for k in ("val_uar", "val_accuracy", "val_loss")},
            "train_rows": int(len(train_frame)), "validation_rows": int(len(val_frame)),
            "train_corpora": sorted(set(train_frame["corpus"])), "scaling": scaling, "seed": int(args.seed),
            "refit": bool(union), "fitted_rows": int(len(fitted_frame)),
            "fitted_corpora": sorted(set(fitted_frame["corpus"]))}
    model = BaselineModel(args.model, class_names, spec, scaler, classifier, info)
    save_model(out_dir / MODEL_NAME, model)
    picked = ", ".join(f"{k} {v}" for k, v in chosen.items())
    if len(val_frame) == 0:
        fit_text = (f"{picked} as given (no validation rows: nothing to choose on and nothing to refit), "
                    f"fitted on {len(train_frame)} training rows")
    elif union:
        fit_text = (f"{picked} chosen on validation (val_uar {best['val_uar']:.4f}), refit on "
                    f"{len(fitted_frame)} train + validation rows")
    else:
        fit_text = (f"{picked} chosen on validation (val_uar {best['val_uar']:.4f}), fitted on "
                    f"{len(train_frame)} training rows (--no_refit)")
    log(f"done: {fit_text}; {out_dir / MODEL_NAME}")
    return out_dir
