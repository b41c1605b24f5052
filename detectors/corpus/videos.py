"""Video caveat actions: crop every frame to the generated panel of a side-by-side composite, or
cut away a watermark/caption band; re-encoded with PyAV (H.264, CRF 18, audio stream copied).

GIFs stay GIFs (cropped frame by frame with Pillow, frame durations kept): the service decodes
GIF. Encoding is single-threaded so that the same input gives the same bytes.
"""

from __future__ import annotations

import io
from fractions import Fraction

from detectors.corpus.caveats import Action
from detectors.corpus.transforms import Output, Result


def crop_box(width: int, height: int, params: dict) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the kept region; even sizes (yuv420p needs them)."""
    x0, x1 = 0, width
    if "panel" in params:
        n = int(params["panels"]) if params.get("panels", "auto") != "auto" else max(1, round(width / height))
        k = int(params["panel"])
        x0, x1 = round(k * width / n), round((k + 1) * width / n)
    y0 = round(float(params.get("crop_top", 0.0)) * height)
    y1 = height - round(float(params.get("crop_bottom", 0.0)) * height)
    x1 -= (x1 - x0) % 2
    y1 -= (y1 - y0) % 2
    return x0, y0, x1, y1


def _crop_gif(data: bytes, params: dict) -> tuple[bytes, tuple[int, int, int, int]]:
    from PIL import Image, ImageSequence

    with Image.open(io.BytesIO(data)) as im:
        box = crop_box(im.width, im.height, params)
        frames, durations = [], []
        for fr in ImageSequence.Iterator(im):
            frames.append(fr.convert("RGB").crop(box))
            durations.append(fr.info.get("duration", im.info.get("duration", 40)))
        loop = im.info.get("loop", 0)
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=durations, loop=loop,
                   optimize=False)
    return buf.getvalue(), box


def _crop_video(data: bytes, params: dict) -> tuple[bytes, tuple[int, int, int, int]]:
    import av

    src = av.open(io.BytesIO(data))
    vin = src.streams.video[0]
    ain = src.streams.audio[0] if src.streams.audio else None
    box = crop_box(vin.codec_context.width, vin.codec_context.height, params)
    x0, y0, x1, y1 = box
    buf = io.BytesIO()
    dst = av.open(buf, "w", format="mp4")
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    vout = dst.add_stream("libx264", rate=rate)
    vout.width, vout.height, vout.pix_fmt = x1 - x0, y1 - y0, "yuv420p"
    vout.codec_context.thread_count = 1
    vout.options = {"crf": "18", "preset": "fast"}
    vout.time_base = vin.time_base
    aout = dst.add_stream_from_template(ain) if ain is not None else None
    streams = [vin] + ([ain] if ain is not None else [])
    for packet in src.demux(*streams):
        if packet.stream is vin:
            for frame in packet.decode():
                img = frame.to_ndarray(format="rgb24")[y0:y1, x0:x1]
                out = av.VideoFrame.from_ndarray(img.copy(), format="rgb24")
                out.pts, out.time_base = frame.pts, frame.time_base
                for p in vout.encode(out):
                    dst.mux(p)
        elif aout is not None and packet.dts is not None:
            packet.stream = aout
            dst.mux(packet)
    for p in vout.encode(None):
        dst.mux(p)
    dst.close()
    src.close()
    return buf.getvalue(), box


def apply(action: Action, data: bytes, base: str) -> Result:
    """Run a video action (``crop``) on the bytes of one file."""
    if action.op != "crop":
        raise ValueError(f"unknown video action {action.op}")
    params = dict(action.params)
    is_gif = data[:4] == b"GIF8"
    out, (x0, y0, x1, y1) = _crop_gif(data, params) if is_gif else _crop_video(data, params)
    stem = base.rsplit(".", 1)[0] if "." in base.rsplit("/", 1)[-1] else base
    name = f"{stem}.crop{'.gif' if is_gif else '.mp4'}"
    decision = f"{action.note or 'cropped'} ({x1 - x0}x{y1 - y0} at {x0},{y0}; " \
               f"{'GIF frames cropped' if is_gif else 're-encoded H.264 CRF 18, audio copied'})"
    return Result([Output(name, out, decision)])
