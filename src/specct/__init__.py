"""specct: cross-corpus speech emotion recognition with spectrogram images and Compact Convolutional Transformers.

Importing the package registers its models in timm's registry, as timm plugins do::

    import specct, timm
    model = timm.create_model('speaker_vgg_cct_14_7x2_224', num_classes=4)

The import stays cheap: the model files need only torch and timm; audio (librosa), speaker
embedding (resemblyzer) and table (pandas, scikit-learn) libraries load with the stages that use them.
"""

__version__ = "0.1.0"

from . import models  # noqa: E402,F401  (registers the CCT and Speaker-CCT models in timm)


def run_experiment(source, progress: bool = False):
    """A whole study from its experiment file (a path, or the file's content as a dict); returns a
    :class:`specct.study.StudyResult` whose ``results`` and ``comparison`` are DataFrames."""
    from .study import run_experiment as run

    return run(source, progress=progress)


def Predictor(model_dir, device: str = "cpu"):  # noqa: N802 (a loader, named as a class for its users)
    """A saved model of any kind (a run folder or a saved file): ``.predict_files([...])``, ``.class_names``."""
    from .predict import Predictor as load

    return load(model_dir, device)
