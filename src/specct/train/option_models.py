"""train.py's options, one model per group of flags, and each kind of system's options as the
groups it reads (:mod:`specct.core.flag_model`): train.py's parser is generated from the groups, a
study's system flags are checked against its kind's model, and ``specct schema`` shows them.

A flag is declared here once: its option strings, type, default and help.
"""
from typing import ClassVar

from pydantic import create_model

from ..core.flag_model import FlagGroup, Switch, option
from ..core.values import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, Range
from ..core.precision import DEFAULT_PRECISION, PRECISIONS
from ..data.image_cache import CACHE_MODES, DEFAULT_BUDGET_MB

# what a numeric flag may hold (argparse checks the type, not the range); a list flag, each item
DROP = Range(low=0, below=1)
CROP = Range(above=0, high=1)
CLASSES = Range(low=2)

# --balance_corpora (specct.train.balance; named here so that --help needs no torch)
BALANCE_CHOICES = ("none", "corpora", "corpora_classes")


class ModelGroup(FlagGroup):
    """The image network: which, its input and its fused vector."""
    title: ClassVar[str] = 'model'
    model: option(str, 'speaker_vgg_cct_14_7x2_224', "--model",
                  help="timm model name")
    pretrained: option(bool | None, None, "--pretrained", action="store_true",
                       help="start from ImageNet weights (default: only when --pretrained_path is given)",
                       switches=(Switch(('--no_pretrained',), False,
                              'train from scratch, even when a config asks for weights'),))
    pretrained_path: option(str | None, None, "--pretrained_path",
                            help="local file with the pretrained weights (works offline)")
    num_classes: option(int | None, None, "--num_classes", bounds=CLASSES, type=int,
                        help="checked against train_data/classes.txt")
    input_size: option(list[int] | None, None, "--input_size", bounds=AT_LEAST_ONE, type=int, nargs=3,
                       metavar=('C', 'H', 'W'),
                       help="model input size; default: the model's own")
    mean: option(list[float] | None, None, "--mean", type=float, nargs=3,
                 help="normalisation mean; default: the model's")
    std: option(list[float] | None, None, "--std", bounds=POSITIVE, type=float, nargs=3,
                help="normalisation std; default: the model's")
    interpolation: option(str, 'bilinear', "--interpolation", choices=('bilinear', 'bicubic', 'nearest'),
                          help="resampling when a saved image is not the input size (images are never "
                               "cropped)")
    crop_pct: option(float, 1.0, "--crop_pct", type=float,
                     help="accepted for timm configs; must be 1.0: cropping would cut the time and "
                          "frequency axes")
    no_aug: option(bool, True, "--no_aug", action="store_true",
                   help="accepted for timm configs; always on: spectrograms are augmented offline, never "
                        "flipped")
    drop: option(float | None, None, "--drop", bounds=DROP, type=float,
                 help="dropout rate")
    drop_path: option(float | None, None, "--drop_path", bounds=DROP, type=float,
                      help="stochastic depth rate")
    model_kwargs: option(list[str] | None, None, "--model_kwargs", nargs='*', metavar='KEY=VALUE',
                         help="extra model arguments, e.g. depth=2 fusion_heads=2 (values read as YAML)")
    no_speaker_pca: option(bool, False, "--no_speaker_pca", action="store_true",
                           help="feed raw speaker vectors instead of projecting them with the split's "
                                "pca.npz")
    vector: option(str, 'speaker', "--vector", metavar='VECTOR',
                   help="the per-utterance vector a speaker model fuses: speaker (the resemblyzer vector),"
                        " whisper:<source>:<layer> (a pooled Whisper layer, from the --features whisper "
                        "cache) or speaker+whisper:<source>:<layer>; a PCA fitted on the training rows "
                        "(specct.train.fusion_vector)")


class FeatureGroup(FlagGroup):
    """The feature baselines' features and classifiers, and the Whisper heads' features."""
    title: ClassVar[str] = ("baselines (--model egemaps_svm, egemaps_svm_rbf, egemaps_logreg, compare_svm, ssl_linear, "
                            "ssl_mlp, ...)")
    features: option(str | None, None, "--features",
                     help="egemaps, compare, ssl:<hub name or local model directory> or whisper[:<hub name"
                          " or folder>[:<layer>]]; default: the baseline's own")
    layer: option(str | None, None, "--layer",
                  help="SSL layer number, or all (learned weighted sum); default all")
    whisper_input: option(str | None, None, "--whisper_input", choices=('real', 'padded'),
                          help="whisper features: real (the log-mel cut to the audio's length) or padded "
                               "(the 30-s window) (default: real)")
    whisper_precision: option(str | None, None, "--whisper_precision", choices=('float32', 'bfloat16'),
                              help="whisper features extracted in float32 or bfloat16 autocast, a cache of"
                                   " its own (default: float32)")
    scaling: option(str, 'standard', "--scaling", choices=('standard', 'corpus', 'speaker'),
                    help="feature scaling fitted on training rows; corpus and speaker are TRANSDUCTIVE "
                         "(test rows scaled by their own corpus or speaker statistics)")
    svm_c: option(list[float], [0.001, 0.01, 0.1, 1.0, 10.0], "--svm_c", bounds=POSITIVE, type=float, nargs='+',
                  help="C values tried (SVM, logistic regression); chosen on validation UAR")
    svm_gamma: option(list[float | str], ['scale', 0.001, 0.01], "--svm_gamma", nargs='+',
                      help="RBF gamma values tried (numbers, scale or auto); chosen on validation UAR")



class HeadGroup(FlagGroup):
    """The small heads trained on features (ssl_mlp, whisper_head) and Whisper's blocks trained with one."""
    title: ClassVar[str] = "heads (--model ssl_mlp, whisper_head, whisper_finetune)"
    head_hidden: option(int, 256, "--head_hidden", bounds=AT_LEAST_ONE, type=int,
                        help="hidden width of ssl_mlp's, whisper_head's and whisper_finetune's head")
    finetune_blocks: option(int | None, None, "--finetune_blocks", type=int,
                            help="whisper_finetune: the top encoder blocks trained with the head (default:"
                                 " 2); the blocks below are frozen and their output cached")
    finetune_lr_scale: option(float | None, None, "--finetune_lr_scale", type=float,
                              help="whisper_finetune: the blocks learn at --lr times this, the head at "
                                   "--lr (default: 0.1)")


class OptimizerGroup(FlagGroup):
    """The optimiser, the learning-rate schedule and the epochs of a trained network or head."""
    title: ClassVar[str] = 'optimizer and schedule'
    opt: option(str, 'adamw', "--opt",
                help="timm optimizer name")
    opt_eps: option(float | None, None, "--opt_eps", bounds=POSITIVE, type=float,
                    help="optimizer epsilon; default: the optimizer's own")
    opt_betas: option(list[float] | None, None, "--opt_betas", bounds=FRACTION, type=float, nargs='+',
                      help="optimizer betas, e.g. 0.9 0.999; default: the optimizer's own")
    momentum: option(float, 0.9, "--momentum", bounds=FRACTION, type=float,
                     help="SGD momentum (momentum optimizers only)")
    weight_decay: option(float, 0.05, "--weight_decay", bounds=NON_NEGATIVE, type=float,
                         help="weight decay")
    clip_grad: option(float | None, None, "--clip_grad", bounds=POSITIVE, type=float,
                      help="clip gradient norm at this value")
    lr: option(float, 5e-05, "--lr", bounds=NON_NEGATIVE, type=float,
               help="learning rate after the warm-up")
    sched: option(str, 'cosine', "--sched",
                  help="timm scheduler name")
    sched_on_updates: option(bool, False, "--sched_on_updates", action="store_true",
                             help="step the schedule every update")
    warmup_lr: option(float, 1e-06, "--warmup_lr", bounds=NON_NEGATIVE, type=float,
                      help="learning rate at the start of the warm-up")
    min_lr: option(float, 1e-06, "--min_lr", bounds=NON_NEGATIVE, type=float,
                   help="lowest learning rate the schedule reaches")
    warmup_epochs: option(int, 0, "--warmup_epochs", bounds=NON_NEGATIVE, type=int,
                          help="epochs of linear warm-up from --warmup_lr")
    cooldown_epochs: option(int, 0, "--cooldown_epochs", bounds=NON_NEGATIVE, type=int,
                            help="epochs at --min_lr after the schedule ends")
    decay_epochs: option(float | None, None, "--decay_epochs", bounds=POSITIVE, type=float,
                         help="epochs between decays of --sched step or multistep (needed by them)")
    decay_rate: option(float, 0.1, "--decay_rate", bounds=POSITIVE, type=float,
                       help="factor of each decay (step and plateau schedulers)")
    patience_epochs: option(int, 10, "--patience_epochs", bounds=NON_NEGATIVE, type=int,
                            help="patience of the plateau scheduler")
    epochs: option(int, 50, "--epochs", bounds=AT_LEAST_ONE, type=int,
                   help="training epochs (fewer with --patience)")
    batch_size: option(int, 32, "--batch_size", "-b", bounds=AT_LEAST_ONE, type=int,
                       help="training images per batch")
    validation_batch_size: option(int | None, None, "--validation_batch_size", "-vb", bounds=AT_LEAST_ONE, type=int,
                                  help="images per validation batch (default: --batch_size)")
    grad_accum_steps: option(int, 1, "--grad_accum_steps", bounds=AT_LEAST_ONE, type=int,
                             help="accumulate gradients over this many batches per update (effective batch"
                                  " = this x batch-size)")


class LossGroup(FlagGroup):
    """The image networks' loss, online augmentation and adaptation levers."""
    title: ClassVar[str] = 'loss and regularisation'
    smoothing: option(float, 0.0, "--smoothing", bounds=DROP, type=float,
                      help="label smoothing")
    mixup: option(float, 0.0, "--mixup", bounds=NON_NEGATIVE, type=float,
                  help="mixup alpha (0 = off); speaker vectors are mixed with the images")
    mixup_prob: option(float, 1.0, "--mixup_prob", bounds=FRACTION, type=float,
                       help="probability of mixing a batch")
    cutmix: option(float, 0.0, "--cutmix", type=float,
                   help="accepted for timm configs; must be 0: a pasted patch would mix time and frequency"
                        " regions")
    class_weights: option(str, 'none', "--class_weights", choices=('none', 'balanced'),
                          help="weight classes inversely to their training frequency")
    loss: option(str, 'ce', "--loss", choices=('ce', 'focal'),
                 help="ce: cross-entropy; focal: focal loss")
    focal_gamma: option(float, 2.0, "--focal_gamma", bounds=NON_NEGATIVE, type=float,
                        help="focusing exponent of --loss focal")
    specaugment_time_masks: option(int, 0, "--specaugment_time_masks", bounds=NON_NEGATIVE, type=int,
                                   help="online SpecAugment: time masks (blanked column bands) per "
                                        "training image (0 = off)")
    specaugment_time_width: option(float, 0.1, "--specaugment_time_width", bounds=FRACTION, type=float,
                                   help="widest time mask, as a fraction of the image width")
    specaugment_freq_masks: option(int, 0, "--specaugment_freq_masks", bounds=NON_NEGATIVE, type=int,
                                   help="online SpecAugment: frequency masks (blanked row bands) per "
                                        "training image (0 = off)")
    specaugment_freq_width: option(float, 0.1, "--specaugment_freq_width", bounds=FRACTION, type=float,
                                   help="tallest frequency mask, as a fraction of the image height")
    time_crop_prob: option(float, 0.0, "--time_crop_prob", bounds=FRACTION, type=float,
                           help="online word-length crops: probability that a training image is replaced "
                                "by a random stretch of its columns resized to the full width (0 = off; "
                                "specct.train.timecrop)")
    time_crop_min: option(float, 0.25, "--time_crop_min", bounds=CROP, type=float,
                          help="shortest kept stretch, as a fraction of the image width")
    time_crop_max: option(float, 0.5, "--time_crop_max", bounds=CROP, type=float,
                          help="longest kept stretch, as a fraction of the image width")
    speaker_norm: option(str, 'none', "--speaker_norm", choices=('none', 'corpus', 'speaker'),
                         help="standardise the raw speaker vectors within each corpus or each speaker "
                              "before the PCA (refitted on the standardised training vectors). At "
                              "evaluation the test rows are standardised with their own statistics: "
                              "TRANSDUCTIVE (uses the unlabelled test audio's vectors); recorded in "
                              "args.yaml and performance.yaml")
    domain_adversarial: option(float, 0.0, "--domain_adversarial", bounds=NON_NEGATIVE, type=float, metavar='LAMBDA',
                               help="domain-adversarial training (DANN), inductive: a corpus classifier on"
                                    " the pooled features behind a gradient-reversal layer whose weight "
                                    "ramps to LAMBDA (2/(1+exp(-10p))-1); the domains are the training "
                                    "corpora only (0 = off; specct.train.domain)")
    domain_adversarial_variant: option(str, 'inductive', "--domain_adversarial_variant",
                                       choices=('inductive', 'transductive'),
                                       help="inductive: the training corpora are the domains; "
                                            "transductive: the held-out corpus's unlabelled audio (the "
                                            "split's eval_data/test.csv, labels never read) joins as one "
                                            "more domain: TRANSDUCTIVE, recorded in args.yaml and "
                                            "performance.yaml")
    test_time_bn: option(bool, False, "--test_time_bn", action="store_true",
                         help="models with batch normalisation: its statistics re-estimated on the test "
                              "rows' own unlabelled images before they are predicted: TRANSDUCTIVE, "
                              "recorded in args.yaml and performance.yaml (specct.train.test_time)")
    input_norm: option(str, 'none', "--input_norm", choices=('none', 'corpus'),
                       help="corpus: images standardised per corpus and frequency row with their own "
                            "corpus's statistics, the test corpus's from its own unlabelled images: "
                            "TRANSDUCTIVE, recorded")
    balance_corpora: option(str, 'none', "--balance_corpora", choices=BALANCE_CHOICES,
                            help="batches drawing every training corpus equally often (corpora), and every"
                                 " class within each corpus (corpora_classes), with replacement; none: "
                                 "plain shuffling")
    model_ema: option(bool, False, "--model_ema", action="store_true",
                      help="keep an exponential moving average of the weights")
    model_ema_decay: option(float, 0.998, "--model_ema_decay", bounds=FRACTION, type=float,
                            help="decay of --model_ema's average")


class EnsembleGroup(FlagGroup):
    """The late fusion of trained systems."""
    title: ClassVar[str] = 'ensemble (--model ensemble)'
    members: option(list[str] | None, None, "--members", nargs='+', metavar='RUN',
                    help="--model ensemble: the systems fused, as run folders or (in an experiment) the "
                         "names of its other systems; their probabilities averaged with weights chosen on "
                         "the validation rows")
    ensemble_step: option(float, 0.1, "--ensemble_step", bounds=POSITIVE, type=float,
                          help="--model ensemble: the grid step of the member weights searched on the "
                               "validation rows")
    member_weights: option(str, 'auto', "--member_weights", choices=('auto', 'validation', 'equal'),
                           help="--model ensemble: auto (chosen on the validation rows, equal without any,"
                                " a refit member only named); validation (chosen on validation rows no "
                                "member fitted on: a split without them, or a refit member that kept no "
                                "earlier fit, is refused); equal (the plain average)")


class RunGroup(FlagGroup):
    """What every kind's run reads: seed, device, precision, selection, output."""
    title: ClassVar[str] = 'run'
    seed: option(int, 42, "--seed", bounds=NON_NEGATIVE, type=int,
                 help="seed of every random draw in training (initial weights, batch order, mixup, masks)")
    workers: option(int, 0, "--workers", "-j", bounds=NON_NEGATIVE, type=int,
                    help="data loading processes")
    device: option(str, 'auto', "--device",
                   help="auto, cpu or cuda")
    image_cache: option(str, 'auto', "--image_cache", choices=CACHE_MODES,
                        help="decode the training and validation images once, not in every epoch: auto (in"
                             " memory within --image_cache_mb, else a memory-mapped file in "
                             "<train_data>/image_cache/), memory, disk, or off (read every PNG in every "
                             "epoch); the batches are the same either way")
    image_cache_mb: option(float, DEFAULT_BUDGET_MB, "--image_cache_mb", bounds=NON_NEGATIVE, type=float,
                           help="memory budget of --image_cache auto, in MiB")
    precision: option(str | None, None, "--precision", choices=PRECISIONS,
                      help="numeric precision of training and validation: auto (bfloat16 autocast where "
                           "the hardware has it natively, float32 elsewhere; specct.core.precision), "
                           "float32, bfloat16 or float16 (a GPU type; bfloat16 on a CPU). Default "
                           f"{DEFAULT_PRECISION}; recorded in args.yaml and the checkpoint, with the "
                           "precision used")
    amp: option(bool, False, "--amp", action="store_true",
                help="older spelling of --precision bfloat16 (or --amp_dtype)")
    amp_dtype: option(str, 'bfloat16', "--amp_dtype", choices=('float16', 'bfloat16'),
                      help="older spelling: the type of --amp")
    torchcompile: option(str | None, None, "--torchcompile", nargs='?', const='inductor', metavar='BACKEND',
                         help="train through torch.compile with this backend (default: inductor); helps on"
                              " GPUs, see docs/performance.md before using it on a CPU")
    eval_metric: option(str, 'uar', "--eval_metric", choices=('uar', 'accuracy', 'loss'),
                        help="validation metric that picks model_best.pth.tar")
    patience: option(int, 0, "--patience", bounds=NON_NEGATIVE, type=int,
                     help="stop after this many epochs without validation improvement (0 = never)")
    refit: option(bool | None, None, "--refit", action="store_true",
                  help="image networks: after training with validation, train again from the same seed on "
                       "the training + validation rows for the chosen epoch count (the epoch of "
                       "model_best) and keep that as the final model; the first run stays in before_refit/"
                       " (doubles the cost; off by default for networks, on by default for the baselines, "
                       "see --no_refit)",
                  switches=(Switch(('--no_refit',), False,
                         "keep the model fitted on the training rows only; by default a baseline, after choosing "
                         "its hyper-parameters (or the head's epoch count) on the validation rows, is fitted again "
                         "with them on the training + validation rows, scaler included"),))
    output: option(str, 'output/train', "--output",
                   help="base folder of training outputs")
    experiment: option(str | None, None, "--experiment",
                       help="output folder (run_loco.py's experiment YAML file is another flag); default "
                            "<output>/<model>-<pretrained|scratch>/<EVAL>/<n>_classes/<aug>/<balance>")
    resume: option(str | None, None, "--resume", nargs='?', const='auto',
                   help="continue from a checkpoint (default: last.pth.tar of the output folder)")
    log_tensorboard: option(bool, False, "--log_tensorboard", action="store_true",
                            help="also log to TensorBoard, if installed")
    max_steps: option(int, 0, "--max_steps", bounds=NON_NEGATIVE, type=int,
                      help="cap on updates per epoch (0 = all; for smoke runs)")
    no_progress: option(bool, False, "--no_progress", action="store_true",
                        help="no progress bars")



# train.py's groups, in the order of its --help
TRAIN_GROUPS = (ModelGroup, FeatureGroup, HeadGroup, OptimizerGroup, LossGroup, EnsembleGroup, RunGroup)


# --------------------------------------------------------------------------- each kind's options

def kind_options(name: str, doc: str, groups: tuple = (), fields: tuple[str, ...] = ()) -> type[FlagGroup]:
    """A kind's options model: the fields of whole groups, then single fields of other groups (what
    the kind's training reads; a flag outside it would be silently ignored)."""
    chosen = {}
    for group in groups:
        chosen.update({f: group.model_fields[f] for f in group.model_fields})
    every = {f: group.model_fields[f] for group in TRAIN_GROUPS for f in group.model_fields}
    for f in fields:
        chosen[f] = every[f]
    return create_model(name, __base__=FlagGroup, __doc__=doc,
                        **{f: (info.annotation, info) for f, info in chosen.items()})


# Read for every kind: the kind itself, the class check, the seed, where the run goes, progress bars.
EVERY_KIND = ("model", "num_classes", "seed", "output", "experiment", "no_progress")
# Read by the networks and heads trained by specct's loops on torch (precision as its older spellings).
TORCH_RUN = ("device", "precision", "amp", "amp_dtype", "eval_metric", "patience", "max_steps")
# The features of the Whisper heads and of the baselines.
WHISPER_FEATURES = ("features", "layer", "whisper_input", "whisper_precision")
# The scheduler and optimiser a timm-style loop builds (the Whisper heads' loop passes no betas or
# eps and accumulates no gradients).
HEAD_OPTIMIZER = tuple(f for f in OptimizerGroup.model_fields if f not in ("opt_eps", "opt_betas", "grad_accum_steps"))

NetworkOptions = kind_options(
    "NetworkOptions", "An image network's options (``--model`` a timm model): every group but the baselines' "
    "and the ensemble's, and the Whisper input of a fused ``--vector whisper:...``.",
    (ModelGroup, OptimizerGroup, LossGroup, RunGroup), ("whisper_input", "whisper_precision"))
BaselineOptions = kind_options(
    "BaselineOptions", "A feature baseline's options: its features and classifier; the torch heads (ssl_linear, "
    "ssl_mlp) also read the learning rate, epochs, batch, weight decay, dropout and label smoothing.",
    (FeatureGroup,), EVERY_KIND + ("head_hidden", "refit", "drop", "lr", "weight_decay", "epochs", "batch_size",
                                   "smoothing", "class_weights", "eval_metric", "patience"))
EnsembleOptions = kind_options(
    "EnsembleOptions", "An ensemble's options: its members and their weights.",
    (EnsembleGroup,), EVERY_KIND + ("device",))
WhisperHeadOptions = kind_options(
    "WhisperHeadOptions", "whisper_head's options: the Whisper frames it reads, its head, and a timm-style loop.",
    (), EVERY_KIND + TORCH_RUN + WHISPER_FEATURES + ("head_hidden", "drop", "smoothing", "class_weights")
    + HEAD_OPTIMIZER)
WhisperFinetuneOptions = kind_options(
    "WhisperFinetuneOptions", "whisper_finetune's options: whisper_head's, the blocks trained and their learning "
    "rate, and resuming.", (WhisperHeadOptions, HeadGroup), ("resume",))
