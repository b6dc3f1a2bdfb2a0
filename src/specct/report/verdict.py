"""The report's first paragraph: what the experiment found, in words a reader can quote.

From results.csv (the mean over held-out corpora, with its interval) and comparison.csv (the paired
bootstrap against the reference): the best system by mean UAR, its margin over the reference with
the interval and p-value, which differences are real and which are ties, chance level and the
class names. Nothing is said that those two tables do not hold.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

MEAN = "mean"


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _summary_rows(results: pd.DataFrame) -> pd.DataFrame:
    """One row per system: its mean over the held-out corpora (or its only corpus)."""
    means = results[results["held_out"] == MEAN]
    if len(means):
        return means
    return results.groupby("system", sort=False).head(1)


def _difference(row) -> str:
    return (f"{row['difference']:+.3f} (95% CI {row['ci_low']:+.3f} to {row['ci_high']:+.3f}, "
            f"p = {row['p_value']:.4f})")


def _verdict_of(row) -> str:
    if _truthy(row["significant"]):
        return "a real difference" + (" in its favour" if row["difference"] > 0 else " against it")
    return "a tie (the paired test does not separate them)"


def chance_sentence(classes: Sequence[str], chance: float | None) -> str:
    if not classes or chance is None:
        return "The class names were not recorded, so chance level is not known."
    return f"Chance level is a UAR of {chance:.3f} (1/{len(classes)}; classes: {', '.join(classes)})."


def verdict(results: pd.DataFrame | None, comparison: pd.DataFrame | None, reference: str,
            classes: Sequence[str], chance: float | None, corpora: Sequence[str]) -> str:
    """One paragraph; says so when no leave-one-corpus-out result exists yet."""
    if results is None or results.empty:
        return "No leave-one-corpus-out result yet: nothing to conclude. " + chance_sentence(classes, chance)
    summary = _summary_rows(results)
    over = f"the mean over {len(corpora)} held-out corpora ({', '.join(corpora)})" if len(corpora) > 1 \
        else f"held-out corpus {', '.join(corpora)}"
    top = summary["uar"].max()
    best = summary[summary["uar"].round(4) == round(float(top), 4)]
    names = list(best["system"])
    first = best.iloc[0]
    interval = ""
    if {"uar_ci_low", "uar_ci_high"} <= set(summary.columns) and not pd.isna(first["uar_ci_low"]):
        interval = f" (95% CI {first['uar_ci_low']:.3f} to {first['uar_ci_high']:.3f})"
    if len(names) > 1:
        text = [f"By {over}, {' and '.join(names)} tie for the best UAR, {top:.3f}{interval}."]
    else:
        text = [f"By {over}, the best system is {names[0]} with a UAR of {top:.3f}{interval}."]
    text += _against_reference(names[0], reference, comparison, len(summary))
    text.append(chance_sentence(classes, chance))
    if chance is not None and interval:
        low, high = float(first["uar_ci_low"]), float(first["uar_ci_high"])
        where = "above" if low > chance else ("below" if high < chance else "around")
        text.append(f"The best system's interval lies {where} chance"
                    + (" (it does not beat guessing)." if where != "above" else "."))
    return " ".join(text)


def _against_reference(best: str, reference: str, comparison: pd.DataFrame | None, systems: int) -> list[str]:
    if systems < 2:
        return ["It is the only system: there is no comparison."]
    if comparison is None or comparison.empty:
        return ["No comparison with the reference has been collected."]
    means = comparison[comparison["held_out"] == MEAN]
    if means.empty:
        means = comparison.groupby("system", sort=False).head(1)
    if best != reference:
        row = means[means["system"] == best]
        if row.empty:
            return [f"Its difference to the reference {reference} was not collected."]
        row = row.iloc[0]
        text = [f"Its margin over the reference, {reference}, is {_difference(row)}: {_verdict_of(row)}."]
    else:
        text = ["It is the reference system itself."]
    others = [r for r in means.to_dict("records") if r["system"] != best]
    real = [f"{r['system']}: {_difference(r)}" for r in others if _truthy(r["significant"])]
    ties = [r["system"] for r in others if not _truthy(r["significant"])]
    if real:
        text.append(f"Real differences to {reference}: {'; '.join(real)}.")
    if ties:
        text.append(f"{', '.join(ties)} {'ties' if len(ties) == 1 else 'tie'} with {reference} "
                    f"(no real difference on the mean).")
    return text
