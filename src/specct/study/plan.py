"""What a study will do, in words, before it does it (``specct run --dry_run``): where it writes,
which corpora it reads, which corpus each fold holds out, which corpora the fold trains and
validates on, and its jobs. Reads the experiment file's settings only; writes nothing.

The validation corpus of a fold is the split stage's own seeded choice
(:func:`specct.data.splits.choose_validation_corpus`), so the plan names the corpus the split will take.
"""
from __future__ import annotations


def fold_corpora(training: list[str], validation: str, validation_corpus: str | None, seed: int,
                 percent: float) -> str:
    """``trains on A, B; validates on C (...)`` for a fold whose training side is ``training``."""
    from ..core.errors import InputError
    from ..data.splits import choose_validation_corpus, resolve_validation

    choice = resolve_validation(validation, training)
    if choice == "none":
        return f"trains on {', '.join(training)}; no validation rows (the last epoch is kept)"
    if choice == "speakers":
        return (f"trains on {', '.join(training)}; validates on {percent:.0%} of the speakers of each "
                f"(validation {validation})")
    try:
        chosen = choose_validation_corpus(training, validation_corpus, seed)
    except InputError as exc:
        return f"cannot split: {exc}"
    rest = [c for c in training if c != chosen]
    return (f"trains on {', '.join(rest)}; validates on the whole of {chosen}, never trained on "
            f"(validation {validation}: one training corpus whole with two or more)")


def describe(study) -> list[str]:
    """The lines of the plan above the stages: output folder, corpora, folds, jobs."""
    from ..loco.experiment import experiment_dir, training_seeds

    opts = study.loco
    names = study.corpus_names
    held = [c.upper() for c in (opts.corpora or names)]
    seeds = training_seeds(opts)
    lines = [f"output folder    {study.workdir} (experiment {experiment_dir(opts)})",
             "corpora          " + ", ".join(f"{c.name} ({'demo' if c.demo else c.source})" for c in study.corpora)]
    for corpus in held:
        training = sorted(c for c in names if c != corpus)
        split_seeds = seeds if opts.vary_split else [opts.seed]
        said = {fold_corpora(training, opts.validation, opts.validation_corpus, s, opts.percent_subject_validation)
                for s in split_seeds}
        text = "; or, by seed, ".join(sorted(said))
        lines.append(f"{'held out ' + corpus:<16} {text}")
    lines += system_lines(opts)
    systems = [s.name for s in opts.systems]
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
    lines.append(f"jobs             {', '.join(systems)} on each held-out corpus ({len(systems) * len(held)} "
                 f"pairs, {seed_text})" + ("; and the pairwise protocol's" if "pairwise" in opts.protocols else ""))
    return lines


def system_lines(opts) -> list[str]:
    """A line per sweep (its variants, each tried on top of another named) and per system or variant with
    splits or images of its own (the settings, the folders they go to)."""
    from ..loco.experiment import system_options
    from ..loco.sweeps import against_of, variant_systems

    def settings(name: str, own: dict, system) -> str:
        moved = system_options(opts, system)
        said = ", ".join(f"{k} {v}" for k, v in own.items())
        return f"{'settings ' + name:<16} {said} (images {moved.datasets_dir}, splits {moved.data_dir})"

    lines = []
    for system in opts.systems:
        if system.sweep:
            on_top = against_of(system)
            names = [v["name"] + (f" (on top of {on_top[v['name']]})" if v["name"] in on_top else "")
                     for v in system.sweep]
            lines.append(f"{'sweep ' + system.name:<16} {len(names)} variants, the first the base: {', '.join(names)}")
        own = {**(system.split or {}), **(system.spectrogram or {})}
        if own:   # a swept system's: every variant's
            lines.append(settings(system.name, own, system))
        for variant, trained in zip(system.sweep or (), variant_systems(system)):
            own = {**variant.get("split", {}), **variant.get("spectrogram", {})}
            if own:
                lines.append(settings(trained.name, own, trained))
    return lines
