"""Generator families for leave-one-family-out evaluation: an explicit, reviewable mapping.

The catalogue's ``generator`` column is free text ("Stable Diffusion 1.5", "YourTTS (zero-shot
voice conversion)", ...). A family groups the generators that share an architecture lineage, so
that a held-out family is genuinely unseen in training. Reals have no family (empty string).

Images use eight families (stylegan, gan-other, sd1, sd2-sdxl-sd3, flux, dalle2,
diffusion-other, faceswap); videos one per generator group (loopy, omnihuman, anitalker, ...)
plus lipsync and faceswap; audio the 79 families of the catalogue's ``audio-notes.md``,
slugified. The files merged from ``shared/data/train`` are mapped by repository and path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# --- images -------------------------------------------------------------------------------------
# (regex on the generator text, family); first match wins, so the specific rules come first.
IMAGE_RULES: tuple[tuple[str, str], ...] = (
    (r"^LCM-LoRA \(SD1\.5\)", "sd1"),
    (r"^Stable Diffusion (1\.5|v1)", "sd1"),
    (r"^Stable Diffusion (2|3)", "sd2-sdxl-sd3"),
    (r"^SDXL", "sd2-sdxl-sd3"),
    (r"^Stable Cascade", "sd2-sdxl-sd3"),
    (r"^FLUX", "flux"),
    (r"^DALL-E 2", "dalle2"),
    (r"^(DeepFloyd IF|Kandinsky|PixArt|Kolors|AuraFlow|Hunyuan|HiDream|Qwen-Image|Chroma|Latent Diffusion|LCM)",
     "diffusion-other"),
    (r"^unspecified diffusion", "diffusion-other"),
    (r"^unspecified GANs", "gan-other"),
    (r"^(StyleGAN|GPEN)", "stylegan"),  # StyleGAN 1/2/3, TPDNE, community, Human, DiffAugment, GPEN prior
    (r"^(ProGAN|BigGAN|SPADE|StarGAN)", "gan-other"),
    (r"^(BlendFace|InsightFace inswapper|MegaFS|InfoSwap|FaceShifter|HiFiFace|Deepfakes)", "faceswap"),
    (r"^(One-shot Face Reenactment|Wav2Lip)", "faceswap"),  # reenactment and lip-sync frames
)

# --- videos -------------------------------------------------------------------------------------
VIDEO_RULES: tuple[tuple[str, str], ...] = (
    (r"^Loopy", "loopy"),
    (r"^OmniHuman", "omnihuman"),
    (r"^AniTalker", "anitalker"),
    (r"^AniPortrait", "aniportrait"),
    (r"^DreamTalk", "dreamtalk"),
    (r"^VividTalk", "vividtalk"),
    (r"^SadTalker-Video-Lip-Sync", "lipsync"),
    (r"^SadTalker", "sadtalker"),
    (r"^(Wav2Lip|VideoReTalking)", "lipsync"),
    (r"^(DF-VAE|CanonSwap|Classical .*face swap|StyleGAN latent-direction face reenactment)", "faceswap"),
)

# --- audio: the 79 families of audio-notes.md (display name as written there) ---------------------
AUDIO_RULES: tuple[tuple[str, str], ...] = (
    (r"^YourTTS", "YourTTS"),
    (r"^(GSLM|HuBERT-unit / VQ-VAE|Speech resynthesis|Textless speech emotion|Unit-based speech resynthesis)",
     "Textless unit-to-speech (HuBERT/CPC/VQ-VAE + HiFi-GAN)"),
    (r"^Mimic 3", "Mimic 3 (VITS-based)"),
    (r"^(AdaSpeech|Joint-training adaptation baseline|PPG-based adaptation baseline)", "AdaSpeech family"),
    (r"^BigVGAN ablation", "HiFi-GAN"),  # both ablations are HiFi-GAN-like generators (no anti-aliasing/snake)
    (r"^BigVGAN", "BigVGAN"),
    (r"^GT mel \+ neural vocoder \(HiFi-GAN", "HiFi-GAN"),
    (r"^GT mel \+ vocoder", "GT-mel vocoder (unspecified)"),
    (r"^(Vocoded speech \(HiFi-GAN|TTS acoustic model \+ HiFi-GAN)", "HiFi-GAN"),
    (r"^TTS acoustic model \+ WaveGlow", "Tacotron 2"),
    (r"^HiFi-Codec", "Neural codec resynthesis"),
    (r"^HiFi-GAN", "HiFi-GAN"),
    (r"^UniAudio", "UniAudio"),
    (r"^Glow-TTS", "Glow-TTS"),
    (r"^FastSpeech 2s", "FastSpeech 2s"),
    (r"^FastSpeech 2", "FastSpeech 2"),
    (r"^FastSpeech", "FastSpeech"),
    (r"^DiTTo-TTS", "DiTTo-TTS"),
    (r"^(DenoiSpeech|Augment-Adversarial noisy-TTS|Enhancement-based noisy-TTS)", "DenoiSpeech family"),
    (r"^Grad-TTS \+ CFM", "Matcha-TTS / CFM"),
    (r"^(Grad-TTS|E2E-Grad-TTS|Diffusion acoustic baseline)", "Grad-TTS"),
    (r"^Matcha-TTS", "Matcha-TTS / CFM"),
    (r"^StyleTTS 2", "StyleTTS 2"),
    (r"^StyleTTS", "StyleTTS"),
    (r"^Diff-HierVC", "Diff-HierVC"),
    (r"^(HierSpeech|HierVST)", "HierSpeech / HierSpeech++ / HierVST"),
    (r"^AutoVC", "AutoVC"),
    (r"^VITS", "VITS"),
    (r"^AGAIN-VC", "AGAIN-VC"),
    (r"^(Diff-VC|DiffVC)", "Diff-VC"),
    (r"^FlowCPCVC", "FlowCPCVC"),
    (r"^AdaIN-VC", "AdaIN-VC"),
    (r"^FragmentVC", "FragmentVC"),
    (r"^Tacotron 2", "Tacotron 2"),
    (r"^VALL-E", "VALL-E"),
    (r"^MaskGCT", "MaskGCT"),
    (r"^Transformer TTS", "Transformer TTS"),
    (r"^MelGAN", "MelGAN"),
    (r"^RLVC", "RLVC"),
    (r"^NaturalSpeech 2", "NaturalSpeech 2"),
    (r"^(NaturalSpeech 3|FACodec voice conversion)", "NaturalSpeech 3 / FACodec"),
    (r"^NaturalSpeech", "NaturalSpeech"),
    (r"^(DAC|EnCodec|FACodec resynthesis|SoundStream)", "Neural codec resynthesis"),
    (r"^Seed-(TTS|VC)", "Seed-TTS / Seed-VC"),
    (r"^LVC-VC", "LVC-VC"),
    (r"^UnivNet", "UnivNet"),
    (r"^VQMIVC", "VQMIVC"),
    (r"^SC-GlowTTS", "SC-GlowTTS"),
    (r"^CLaM-TTS", "CLaM-TTS"),
    (r"^MediumVC", "MediumVC"),
    (r"^VoiceCraft", "VoiceCraft"),
    (r"^Voicebox", "Voicebox"),
    (r"^StarGANv2-VC", "StarGANv2-VC"),
    (r"^WaveGlow", "WaveGlow"),
    (r"^FreeVC", "FreeVC"),
    (r"^VQVC\+", "VQVC+"),
    (r"^Mega-TTS", "Mega-TTS"),
    (r"^PriorGrad (acoustic|trainable-prior)", "PriorGrad (acoustic)"),
    (r"^PriorGrad vocoder", "PriorGrad (vocoder)"),
    (r"^FluentSpeech", "FluentSpeech"),
    (r"^Parallel WaveGAN", "Parallel WaveGAN"),
    (r"^NVC-Net", "NVC-Net"),
    (r"^DiffWave", "DiffWave"),
    (r"^BNE-PPG-VC", "BNE-PPG-VC"),
    (r"^LightSpeech", "LightSpeech"),
    (r"^SemiNAS", "SemiNAS"),
    (r"^XTTS", "XTTS"),
    (r"^LPCNet", "LPCNet"),
    (r"^Speech-T", "Speech-T"),
    (r"^JETS", "JETS"),
    (r"^SC-WaveRNN", "WaveRNN"),
    (r"^Griffin-Lim", "Griffin-Lim"),
    (r"^WaveNet", "WaveNet"),
    (r"^PortaSpeech", "PortaSpeech"),
    (r"^Blow", "Blow"),
    (r"^Autoregressive zero-shot TTS baseline", "AR zero-shot TTS (unnamed)"),
    (r"^Merlin", "Merlin"),
    (r"^FastDiff", "FastDiff"),
    (r"^VoiceMixer", "VoiceMixer"),
    (r"^DDDM-VC", "DDDM-VC"),
    (r"^BVAE-TTS", "BVAE-TTS"),
    (r"^WaveFlow", "WaveFlow"),
    (r"^E3-TTS", "E3-TTS"),
    (r"^Simple-TTS", "Simple-TTS"),
    (r"^Microsoft Azure Neural TTS", "Azure Neural TTS"),
)

# --- shared/data/train (no generator column): (repo, regex on source_path, family) ----------------
SHARED_RULES: tuple[tuple[str, str, str], ...] = (
    # images
    ("gebaltso/SDFD", r"", "sd2-sdxl-sd3"),  # Stable Diffusion 2.1 faces
    ("twinkletwinklelittlestar70/eyes_that", r"", "stylegan"),
    ("ZhuoxuanZhangHarry/AgeGAN-FaceEvolution", r"", "stylegan"),  # StyleGAN2-ADA
    ("wuhuikai/FaceSwap", r"", "faceswap"),
    ("ai-forever/ghost", r"", "faceswap"),  # GHOST swaps (image and video)
    # videos
    ("OpenTalker/SadTalker", r"", "sadtalker"),
    ("tencent-ailab/V-Express", r"/emo/", "emo"),
    ("tencent-ailab/V-Express", r"/vasa-1/", "vasa-1"),
    ("tencent-ailab/V-Express", r"chattts", "chattts"),
    # audio
    ("espnet/espnet-tts-sample", r"tacotron2", "tacotron-2"),
    ("espnet/espnet-tts-sample", r"transformer", "transformer-tts"),
    ("espnet/espnet-tts-sample", r"fastspeech", "fastspeech"),
    ("cschaefer26/model_outputs", r"", "forwardtacotron"),
    ("Kyubyong/tacotron", r"", "tacotron"),
    ("ivanvovk/WaveGrad", r"", "wavegrad"),
    ("kan-bayashi/ParallelWaveGAN", r"style-melgan", "stylemelgan"),
    ("kan-bayashi/ParallelWaveGAN", r"melgan", "melgan"),
    ("kan-bayashi/ParallelWaveGAN", r"hifigan", "hifi-gan"),
    ("kan-bayashi/ParallelWaveGAN", r"wavegan", "parallel-wavegan"),
    ("kallavinka8045/icassp2021", r"/melgan_", "melgan"),  # MelGAN and Universal MelGAN (vocoder of the TTS too)
    ("kallavinka8045/icassp2021", r"/waveglow/", "waveglow"),
    ("kallavinka8045/icassp2021", r"/wavernn/", "wavernn"),
    ("MobileSpeech/MobileSpeech.github.io", r"gtcodec", "neural-codec-resynthesis"),
    ("MobileSpeech/MobileSpeech.github.io", r"megatts", "mega-tts"),
    ("MobileSpeech/MobileSpeech.github.io", r"valle", "vall-e"),
    ("MobileSpeech/MobileSpeech.github.io", r"yourtts", "yourtts"),
    ("MobileSpeech/MobileSpeech.github.io", r"(mobilespeech|spk_)", "mobilespeech"),
    ("vs-tts123/VSTTS-Demo", r"instruct", "instructtts"),
    ("vs-tts123/VSTTS-Demo", r"style-", "promptstyle"),
    ("vs-tts123/VSTTS-Demo", r"", "vs-tts"),
)


def slugify(name: str) -> str:
    """'Matcha-TTS / CFM' -> 'matcha-tts-cfm'; a trailing '+' becomes '-plus' ('VQVC+' -> 'vqvc-plus')."""
    s = re.sub(r"\+$", " plus", name.strip().lower())
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")


def _first(rules: tuple[tuple[str, str], ...], text: str) -> str | None:
    for pattern, family in rules:
        if re.search(pattern, text):
            return family
    return None


def audio_family_name(generator: str) -> str | None:
    """The notes' display name of an audio generator's family (None if unmapped)."""
    return _first(AUDIO_RULES, generator.strip())


def family_for(generator: str, modality: str, label: str = "fake") -> str:
    """Family of a catalogue fake from its ``generator`` text; '' for reals; raises if unmapped."""
    if label != "fake":
        return ""
    text = generator.strip()
    if modality == "audio":
        name = audio_family_name(text)
        found = slugify(name) if name else None
    elif modality == "video":
        found = _first(VIDEO_RULES, text)
    else:
        found = _first(IMAGE_RULES, text)
    if not found:
        raise KeyError(f"no family for {modality} generator {generator!r}: add a rule to detectors/corpus/families.py")
    return found


def shared_family(row: Mapping[str, str]) -> str:
    """Family of a ``shared/data/train`` row (by repository and path); '' for reals."""
    if row.get("label") != "fake":
        return ""
    repo, path = row.get("source_repo", ""), row.get("source_path", "")
    for rule_repo, pattern, family in SHARED_RULES:
        if rule_repo == repo and re.search(pattern, path, re.IGNORECASE):
            return family
    raise KeyError(f"no family for shared/train fake {repo}:{path}: add a rule to detectors/corpus/families.py")


def video_kind(kind: str, family: str) -> str:
    """The coarse kind of a fake video: the catalogue's, with the generic 'deepfake-video' resolved
    to 'faceswap' (DF-VAE, GHOST) or 'talking-head' (SadTalker, EMO, VASA-1)."""
    if kind != "deepfake-video":
        return kind
    return "faceswap" if family == "faceswap" else "talking-head"
