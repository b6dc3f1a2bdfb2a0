"""specct: cross-corpus speech emotion recognition with spectrogram images and Compact Convolutional Transformers.

Importing ``specct.models`` registers the models in timm's registry, as timm plugins do::

    import specct.models, timm
    model = timm.create_model('speaker_vgg_cct_14_7x2_224', num_classes=4)

``import specct`` itself loads nothing heavy (the ``specct`` command answers ``--help`` before torch
is imported); submodules load on first use (``specct.models``, ``specct.loco``, ...), and audio,
speaker-embedding and table libraries with the stages that use them.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``specct.<submodule>`` without importing it first, as before the package import became light."""
    import importlib

    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def run_experiment(source, progress: bool = False, force_new: bool = False, redo=()):
    """A whole study from its experiment file (a path, or the file's content as a dict); returns a
    :class:`specct.study.engine.StudyResult` whose ``results`` and ``comparison`` are DataFrames. A study
    recorded with other settings stops, unless ``force_new`` (a new experiment beside it) or ``redo``
    (``["SYSTEM", "SYSTEM/CORPUS"]``: those jobs run again), as ``specct run``'s flags."""
    from .study.engine import run_experiment as run

    return run(source, progress=progress, force_new=force_new, redo=redo)


def Predictor(model_dir, device: str = "cpu"):  # noqa: N802 (a loader, named as a class for its users)
    """A saved model of any kind (a run folder or a saved file): ``.predict_files([...])``, ``.class_names``."""
    from .stages.predict import Predictor as load

    return load(model_dir, device)
