"""Per-group caveat rules: which catalogue files are grids, composites or watermarked, and what to do.

A rule is keyed by repository + shell glob on the source path and names an action:
``keep``; ``grid`` (split into rows x cols tiles, optional gutters); ``crop`` (keep one box,
given as fractions of width/height: the generated panel of a composite, or the frame minus a
watermark band); ``drop`` (with the reason). The rule's ``key`` goes into the build state, so
changing a rule re-processes only the files it covers.
"""

from __future__ import annotations

from dataclasses import dataclass

from detectors.corpus.catalogue import shell_match


@dataclass(frozen=True)
class Action:
    """What to do with one source file."""

    op: str  # keep | grid | crop | drop
    params: tuple = ()
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.op}:{self.params}:{self.note}"


KEEP = Action("keep")

def _a(op: str, note: str = "", **params: object) -> Action:
    return Action(op, tuple(sorted(params.items())), note)


NOT_SEPARABLE = "composite not separable: irregular mosaic without gutters (tiles cannot be cut reliably)"
IF_BADGE = 0.09  # DeepFloyd IF badge: bottom-right corner of every tile, about 6 % of the tile high

# (repo, shell glob on the source path, action); first match wins. Geometry measured on the files
# (contact sheets, gutter profiles); see docs/corpus.md for how each rule was derived.
RULES: tuple[tuple[str, str, Action], ...] = (
    # --- sample grids: every tile generated ----------------------------------------------------
    ("SupaGruen/StableDiffusion-CheatSheet", "img/*.webp", _a("grid", "tile of 2x2 grid", rows=2, cols=2)),
    ("Stability-AI/stablediffusion", "assets/stable-samples/txt2img/*merged-*.png",
     _a("grid", "tile of strip", rows=1, cols="auto")),
    ("Stability-AI/stablediffusion", "assets/stable-samples/txt2img/*/merged-*.png",
     _a("grid", "tile of strip", rows=1, cols="auto")),
    ("CompVis/stable-diffusion", "assets/stable-samples/txt2img/merged-*.png",
     _a("grid", "tile of strip", rows=1, cols="auto")),
    ("CompVis/latent-diffusion", "assets/*.png", _a("grid", "tile of strip", rows=1, cols=6)),
    ("deep-floyd/IF", "pics/dream-*.jpg", _a("grid", "tile of 2x2 grid", rows=2, cols=2, crop_bottom=IF_BADGE)),
    ("deep-floyd/IF", "pics/main.jpg", _a("grid", "tile of 2x4 grid", rows=2, cols=4, crop_bottom=IF_BADGE)),
    ("deep-floyd/IF", "pics/nabla.jpg", _a("drop", NOT_SEPARABLE)),
    ("ai-forever/Kandinsky-2", "content/kand_22.png", _a("xycut", "cell of labelled grid", expect=6)),
    ("PixArt-alpha/PixArt-alpha", "asset/images/more-samples*.png", _a("drop", NOT_SEPARABLE + " (captions)")),
    ("luosiallen/latent-consistency-model", "teaser.png", _a(
        "grid", "tile of teaser grid",
        regions=((13, 2, 1935, 1442, 3, 4), (6, 1493, 968, 2455, 2, 2), (977, 1492, 1940, 2454, 2, 2)))),
    ("black-forest-labs/flux", "assets/*grid.jpg", _a("drop", NOT_SEPARABLE)),
    ("justinpinkney/awesome-pretrained-stylegan2", "content/*/mixing.jpg", _a("grid", "tile of mixing grid", tile=256)),
    ("justinpinkney/awesome-pretrained-stylegan2", "content/*/samples.jpg", _a("grid", "tile of sample grid", tile=256)),
    ("ajbrock/BigGAN-PyTorch", "imgs/DeepSamples.png", _a("grid", "tile of strip", rows=1, cols=3)),
    ("ajbrock/BigGAN-PyTorch", "imgs/header_image.jpg", _a("grid", "tile of strip", rows=1, cols=5)),
    ("tkarras/progressive_growing_of_gans", "representative_image_512x256.png",
     _a("grid", "tile of strip", rows=1, cols=2)),
    ("NVlabs/stylegan", "stylegan-teaser.png", _a("grid", "tile of teaser grid", rows=3, cols=5)),
    ("NVlabs/stylegan2", "docs/stylegan2-teaser-1024x256.png", _a("grid", "tile of strip", rows=1, cols=4)),
    ("NVlabs/stylegan3", "docs/stylegan3-teaser-1920x1006.png", _a(
        "grid", "face panel of teaser (internal-representation panels dropped)",
        regions=((1443, 30, 1890, 476, 1, 1), (1443, 528, 1890, 974, 1, 1)))),
    ("mit-han-lab/data-efficient-gans", "imgs/low-shot-comparison.jpg", _a(
        "grid", "tile of comparison grid", regions=((0, 0, 1024, 1328, 5, 4), (1059, 0, 2083, 1328, 5, 4)))),
    ("mit-han-lab/data-efficient-gans", "imgs/low-shot-interp.jpg", _a("grid", "tile of interpolation grid",
                                                                        rows=5, cols=9)),
    ("NVlabs/SPADE", "docs/images/flickr.jpg", _a("grid", "tile of 4x4 grid", rows=4, cols=4)),
    ("stylegan-human/StyleGAN-Human", "img/*.png", _a("drop", NOT_SEPARABLE + " (overlapping full bodies)")),
    # --- composites: real inputs beside the generated cells ----------------------------------------
    ("yunjey/stargan", "jpg/result_celeba1.jpg", _a(
        "grid", "generated cell (input column dropped)", regions=((179, 26, 1404, 978, 7, 9),))),
    ("yunjey/stargan", "jpg/result_celeba2.jpg", _a(
        "grid", "generated cell (input column dropped)", regions=((186, 32, 1326, 1031, 7, 8),))),
    ("yunjey/stargan", "jpg/result_rafd.jpg", _a(
        "grid", "generated cell (input column dropped)", regions=((181, 28, 1328, 1031, 7, 8),))),
    ("zyainfal/One-Shot-Face-Swapping-on-Megapixels", "inference/imgs/*.jpg", _a(
        "grid", "generated panel (source and target dropped)", rows=1, cols=4, select="cols:2,3")),
    ("GGGHSL/InfoSwap-master", "examples/1024.jpg", _a(
        "grid", "swapped face (source/target row dropped)",
        regions=((92, 452, 3843, 1202, 1, 5), (92, 1606, 3843, 2356, 1, 5), (92, 2761, 3843, 3510, 1, 5)))),
    ("GGGHSL/InfoSwap-master", "examples/films.jpg", _a("drop", NOT_SEPARABLE + " (labelled film stills)")),
    ("mindslab-ai/faceshifter", "assets/our_results.png", _a("grid", "swap result of strip", rows=1, cols=9)),
    ("mindslab-ai/faceshifter", "assets/wild_v6.jpg", _a("drop", "composite not separable: source/target/result "
                                                               "rows of abutting pictures with no gutters")),
    ("xuehy/HiFiFace-pytorch", "results/p*.png", _a(
        "xycut", "result panel (source and target dropped)", select="last-row")),
    # --- videos: composites and watermarks -------------------------------------------------------
    ("Zejun-Yang/AniPortrait", "asset/*.mp4", _a(
        "crop", "generated panel of side-by-side composite (static reference and driving panels dropped)",
        panel=1, panels="auto")),
    ("StelaBou/stylegan_directions_face_reenactment", "images/*.gif", _a(
        "crop", "reenacted column of Source|Target|Reenacted composite", panel=2, panels=3, crop_top=0.09)),
    ("loopyavatar/loopyavatar.github.io", "video/*.mp4", _a("crop", "'AIGC' watermark band cropped",
                                                             crop_bottom=0.16)),
    ("omnihuman-lab/omnihuman-lab.github.io", "video/*.mp4", _a("crop", "'AI Creations' caption band cropped",
                                                                 crop_top=0.07)),
    ("omnihuman-lab/omnihuman-lab.github.io", "v1_5/vis/*.mp4", _a("crop", "'AI Creations' caption band cropped",
                                                                    crop_top=0.07)),
    ("ali-vilab/dreamtalk", "output_video/*.mp4", _a("crop", "'DreamTalk' watermark band cropped", crop_bottom=0.15)),
    # shared/train clips (V-Express test samples): EMO's caption and VASA-1's source-image inset
    ("tencent-ailab/V-Express", "test_samples/emo/*/gt.mp4", _a("crop", "'Generated Video' caption band cropped",
                                                                 crop_bottom=0.2)),
    ("tencent-ailab/V-Express", "test_samples/vasa-1/*/gt.mp4", _a("crop", "source-image inset band cropped",
                                                                    crop_bottom=0.2)),
    # --- watermarks and badges --------------------------------------------------------------------
    ("openai/dalle-2-preview", "assets/Model2_*.png", _a("crop", "DALL-E colour-bar watermark band cropped",
                                                         crop_bottom=0.025)),
)


def action_for(repo: str, path: str) -> Action:
    """The caveat action for one catalogue file (``keep`` when no rule applies)."""
    for rule_repo, glob, action in RULES:
        if rule_repo == repo and shell_match(path, glob):
            return action
    return KEEP
