"""The model catalogue: every model an installation can use, in one place.

Local models need no network and no keys; they run the demo and the tests. Cloud entries name
the platform client that calls them; their input marshalling (prompt templates, sizes, steps) and
output parsing live in ``params`` (docs/platforms.md lists the keys each client reads), their
gallery experience in the hints (warm or cold, typical seconds), their price where published.
Prices are US dollars as published by the platforms in 2025; check them before trusting a bill.
Replicate models without a pinned ``:version`` run their latest version, looked up at first use.

Replicate entries follow each model's published input schema; the excerpt relied on for each is
recorded in ``panic_edge/core/schemas/replicate.toml`` and tests/test_catalogue_schemas.py checks
every request against it. ``deprecated`` entries are the ones whose endpoints broke or were
superseded (most in February 2026, as the original PANIC! app found): kept for history and old
networks, left out of the picker.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypedDict

from panic_edge.core.media import MediaType
from panic_edge.core.model import Hints, Model, Price, Warmth
from panic_edge.errors import UnknownModelError

T, I, A = MediaType.TEXT, MediaType.IMAGE, MediaType.AUDIO  # noqa: E741 -- the types' initials, for the table
WARM, COLD = Warmth.WARM, Warmth.COLD


def _m(id: str, name: str, platform: str, io: tuple[MediaType, MediaType], description: str,
       ref: str = "", warmth: Warmth = WARM, seconds: float = 5.0, price: Price | None = None,
       deprecated: bool = False, **params: object) -> Model:
    return Model(id=id, name=name, platform=platform, input=io[0], output=io[1],
                 description=description, ref=ref, hints=Hints(warmth, seconds), params=dict(params),
                 price=price, deprecated=deprecated)


class _Retired(TypedDict):
    deprecated: bool


OLD: _Retired = {"deprecated": True}  # the original app retired these Replicate endpoints (February 2026)


def per_image(dollars: float) -> Price:
    return Price(per_call=dollars)


def per_million(tokens_in: float, tokens_out: float) -> Price:
    return Price(per_million_input=tokens_in, per_million_output=tokens_out)


GPT = per_million(1.25, 10.0)          # gpt-5-chat-latest
CLAUDE = per_million(3.0, 15.0)        # claude-sonnet-4-5
GEMINI = per_million(0.30, 2.50)       # gemini-2.5-flash
LLAMA_8B = per_million(0.05, 0.25)     # meta/meta-llama-3-8b-instruct on Replicate
LLAMA_70B = per_million(0.65, 2.75)    # meta/meta-llama-3-70b-instruct on Replicate
# Official Replicate models are billed per output or per token: the prices above are Replicate's,
# as listed by third parties (the model pages could not be read from the build machine; check
# them before relying on a cap). A Replicate model with no price here (a community model, billed
# by the second on hardware its author chose, which the API does not say; or an official one
# whose price was not found: flux-2-klein-4b, lyria-2) is estimated from the seconds it ran at the
# A100 (80GB) rate, $0.0014/s (replicate.com/pricing), dearer than the T4, A40 and L40S most
# community models run on. Marked `cost_estimated` in the call's meta.
COMMUNITY_HARDWARE = Price(per_second=0.0014)
MAX_PREDICT_SECONDS = 3600  # a predict_time beyond an hour is not one: no estimate from it


def replicate_cost(model: Model, predict_time: object, tokens_in: int | None = None,
                   tokens_out: int | None = None) -> dict[str, float | bool]:
    """A Replicate prediction's ``cost_usd``: from the model's price, else (no price known)
    estimated from the seconds Replicate says it ran at COMMUNITY_HARDWARE's rate, so the day's
    budget counts it, and marked ``cost_estimated``. Nothing for a run time that is not plausible.
    (Pure, so the client and the benchmarks' stand-ins cost a call the same way.)"""
    seconds = predict_time if isinstance(predict_time, int | float) and not isinstance(predict_time, bool) else None
    if model.price is not None:
        return {"cost_usd": model.price.estimate(seconds, tokens_in, tokens_out)}
    if seconds is None or not 0 <= seconds <= MAX_PREDICT_SECONDS:
        return {}
    return {"cost_usd": COMMUNITY_HARDWARE.estimate(seconds), "cost_estimated": True}
ONE_SENTENCE = "Describe this picture in one vivid sentence."
CAPTION = ("Provide an interesting, concise caption for this image. Describe foreground and background "
           "elements.")
REPRODUCE = "reproduce this image exactly"
# lucataco/xtts-v2 clones the voice of a `speaker` recording it requires: its Cog predictor's own
# sample voice (11 s), pinned to the commit recorded in schemas/replicate.toml
XTTS_SPEAKER = ("https://raw.githubusercontent.com/lucataco/cog-xtts-v2/"
                "b7b18df57a1a63872ca0b0eb61b4f3d8aa2353ea/female.wav")


MODELS: tuple[Model, ...] = (
    # --- local: no network, no keys -------------------------------------------------------
    _m("local-poet", "Drift Poet", "local", (T, T),
       "Rewrites its input as a short drifting verse, deterministically from the words it is given.",
       seconds=0.5),
    _m("local-painter", "Pixel Painter", "local", (T, I),
       "Paints a picture from the words: colours, shapes and composition all derived from the text.",
       seconds=1.0),
    _m("local-captioner", "Colour Captioner", "local", (I, T),
       "Describes a picture by its colours, brightness and composition.", seconds=0.5),
    _m("local-voice", "Robot Voice", "local", (T, A),
       "Speaks the text with espeak-ng where installed, otherwise sings it as a sequence of tones.",
       seconds=1.0),
    _m("local-listener", "Tone Listener", "local", (A, T),
       "Listens to a sound and describes its length, loudness and pitch.", seconds=0.5),
    # --- image generation -----------------------------------------------------------------
    _m("flux-2-klein-4b", "FLUX.2 [klein] 4B", "replicate", (T, I),
       "Black Forest Labs' sub-second FLUX.2 model, the successor of FLUX.1 [schnell].",
       "black-forest-labs/flux-2-klein-4b", seconds=2, official=True, aspect_ratio="16:9",
       output_format="png"),
    _m("imagen-4-fast", "Imagen 4 Fast", "replicate", (T, I),
       "Google's fast Imagen 4: crisp, literal pictures.", "google/imagen-4-fast", seconds=5, official=True,
       price=per_image(0.02),
       aspect_ratio="16:9", safety_filter_level="block_only_high"),
    _m("photon-flash", "Luma Photon Flash", "replicate", (T, I),
       "Luma's quick Photon model: bold, cinematic pictures.", "luma/photon-flash", seconds=6,
       price=per_image(0.01), official=True, aspect_ratio="16:9"),
    _m("seedream-4.5", "Seedream 4.5", "replicate", (T, I),
       "ByteDance's Seedream 4.5, with a strong sense of space and layout.", "bytedance/seedream-4.5",
       seconds=15, price=per_image(0.04), official=True, size="2K", aspect_ratio="16:9"),
    _m("z-image-turbo", "Z-Image Turbo", "replicate", (T, I),
       "Tongyi's Z-Image Turbo, distilled by Pruna: photographic pictures in about a second.",
       "prunaai/z-image-turbo", seconds=3, aspect_ratio="16:9"),
    _m("dreamina-3.1", "Dreamina 3.1", "replicate", (T, I),
       "ByteDance's Dreamina 3.1: cinematic four-megapixel pictures.", "bytedance/dreamina-3.1", seconds=15,
       price=per_image(0.03), official=True, aspect_ratio="16:9", resolution="2K"),
    _m("ideogram-v3-turbo", "Ideogram 3 Turbo", "replicate", (T, I),
       "Ideogram's fast model: realistic or designed pictures, good at lettering.",
       "ideogram-ai/ideogram-v3-turbo", seconds=8, price=per_image(0.03), official=True, aspect_ratio="16:9"),
    _m("sd-3.5-large-turbo", "Stable Diffusion 3.5 Large Turbo", "replicate", (T, I),
       "Stability AI's distilled SD 3.5 large model: fewer steps, quicker pictures.",
       "stability-ai/stable-diffusion-3.5-large-turbo", seconds=4, price=per_image(0.04), official=True,
       aspect_ratio="16:9",
       output_format="png"),
    _m("image-reproducer-i-flux", "Image Reproducer I (FLUX Kontext)", "replicate", (T, I),
       "Asked to reproduce the picture it is handed exactly, FLUX Kontext drifts a little each time; "
       "from a typed prompt it first paints one with FLUX.2 [klein]. Pair it with Image Reproducer II.",
       "black-forest-labs/flux-kontext-dev", seconds=8, price=per_image(0.025), official=True,
       picture_field="input_image",
       picture_prompt=REPRODUCE, guidance=2.5, num_inference_steps=30, aspect_ratio="match_input_image",
       output_format="png",
       genesis={"ref": "black-forest-labs/flux-2-klein-4b", "official": True, "aspect_ratio": "16:9",
                "output_format": "png"}),
    _m("flux-schnell", "FLUX.1 [schnell]", "replicate", (T, I),
       "Black Forest Labs' fastest FLUX model: a picture in about a second.",
       "black-forest-labs/flux-schnell", seconds=2, price=per_image(0.003), official=True,
       output_format="webp", num_outputs=1, aspect_ratio="1:1", go_fast=True, **OLD),
    _m("flux-dev", "FLUX.1 [dev]", "replicate", (T, I),
       "The larger open FLUX model: slower, richer pictures.",
       "black-forest-labs/flux-dev", seconds=8, price=per_image(0.025), official=True,
       output_format="webp", num_outputs=1, aspect_ratio="1:1", num_inference_steps=28),
    _m("sdxl", "Stable Diffusion XL", "replicate", (T, I),
       "Stability AI's SDXL base model.", "stability-ai/sdxl", seconds=6,
       width=1024, height=1024, num_inference_steps=30, refine="expert_ensemble_refiner", **OLD),
    _m("sdxl-lightning", "SDXL Lightning", "replicate", (T, I),
       "ByteDance's 4-step distilled SDXL: fast and punchy.",
       "bytedance/sdxl-lightning-4step", seconds=2, width=1024, height=1024, num_inference_steps=4, **OLD),
    _m("sd-3.5-large", "Stable Diffusion 3.5 Large", "replicate", (T, I),
       "Stability AI's SD 3.5 large model.", "stability-ai/stable-diffusion-3.5-large", seconds=10,
       price=per_image(0.065), official=True, aspect_ratio="1:1", output_format="png"),
    _m("kandinsky", "Kandinsky 2.2", "replicate", (T, I),
       "Kandinsky's dreamy, painterly text-to-image model.", "ai-forever/kandinsky-2.2",
       warmth=COLD, seconds=20, width=1024, height=1024, num_inference_steps=50, **OLD),
    _m("proteus", "Proteus v0.2", "replicate", (T, I),
       "An SDXL fine-tune with strong prompt following.", "datacte/proteus-v0.2", warmth=COLD, seconds=25,
       width=1024, height=1024, num_inference_steps=20, guidance_scale=7.5, **OLD),
    _m("flux-lora-tarot", "FLUX tarot LoRA", "replicate", (T, I),
       "FLUX fine-tuned on tarot cards (Finetune Friday).", "fofr/flux-tarot", warmth=COLD, seconds=30,
       template="{text}, in the style of TOK tarot card", output_format="png", num_outputs=1),
    _m("flux-lora-80s", "FLUX 80s cyberpunk LoRA", "replicate", (T, I),
       "FLUX fine-tuned on 1980s cyberpunk film stills (Finetune Friday).", "fofr/flux-80s-cyberpunk",
       warmth=COLD, seconds=30, template="style of 80s cyberpunk, {text}", output_format="png",
       num_outputs=1),
    _m("flux-lora-ghibli", "FLUX watercolour anime LoRA", "replicate", (T, I),
       "FLUX fine-tuned on hand-painted animation backgrounds (Finetune Friday).",
       "aleksa-codes/flux-ghibsky-illustration", warmth=COLD, seconds=30,
       template="GHIBSKY style, {text}", output_format="png", num_outputs=1),
    # --- image to image ---------------------------------------------------------------------
    _m("flux-redux", "FLUX Redux", "replicate", (I, I),
       "Paints a new variation of the picture it is shown.", "black-forest-labs/flux-redux-schnell",
       seconds=3, price=per_image(0.003), official=True, field="redux_image", output_format="png"),
    # --- captioning -----------------------------------------------------------------------
    _m("qwen2-vl-7b-instruct", "Qwen2-VL 7B", "replicate", (I, T),
       "Alibaba's Qwen2-VL: a modern vision-language model that reads pictures at any resolution.",
       "lucataco/qwen2-vl-7b-instruct", warmth=COLD, seconds=10, field="media", prompt=CAPTION,
       max_new_tokens=100),
    _m("llama-4-scout-instruct", "Llama 4 Scout", "replicate", (I, T),
       "Meta's natively multimodal Llama 4 Scout (17B, 16 experts), asked for a caption.",
       "meta/llama-4-scout-instruct", seconds=4, price=per_million(0.17, 0.65), official=True, prompt=CAPTION,
       max_tokens=100),
    _m("claude-4-sonnet-caption", "Claude 4 Sonnet caption (Replicate)", "replicate", (I, T),
       "Claude 4 Sonnet through Replicate describes the picture in one sentence.",
       "anthropic/claude-4-sonnet", seconds=5, price=CLAUDE, official=True, prompt="describe this image in one sentence",
       max_image_resolution=0.5),
    _m("image-reproducer-ii-flux", "Image Reproducer II", "local", (I, T),
       "Hands the picture on, untouched, to Image Reproducer I: the pair loops a picture through "
       "endless reproductions.", seconds=0.1),
    _m("blip-2", "BLIP-2", "replicate", (I, T),
       "Salesforce's BLIP-2 captioner: short, literal captions.", "andreasjansson/blip-2", seconds=2,
       caption=True, **OLD),
    _m("blip-3", "BLIP-3 (xGen-MM)", "replicate", (I, T),
       "Salesforce's BLIP-3 vision-language model, asked for one sentence.", "zsxkib/blip-3",
       seconds=4, question=ONE_SENTENCE, **OLD),
    _m("florence-2", "Florence-2", "replicate", (I, T),
       "Microsoft's Florence-2 with detailed captions.", "lucataco/florence-2-large", seconds=4,
       task_input="More Detailed Caption", output_key="text", **OLD),
    _m("moondream", "Moondream 2", "replicate", (I, T),
       "A tiny vision-language model that describes pictures in a sentence.", "lucataco/moondream2",
       seconds=3, prompt=ONE_SENTENCE),
    _m("molmo", "Molmo 7B", "replicate", (I, T),
       "Allen AI's Molmo, an open vision-language model, asked for one sentence.", "zsxkib/molmo-7b",
       warmth=COLD, seconds=15, text=ONE_SENTENCE, max_new_tokens=100),
    _m("bunny", "Bunny", "replicate", (I, T),
       "Bunny, a small multimodal model (Phi-2 with SigLIP), asked for one sentence.",
       "adirik/bunny-phi-2-siglip", warmth=COLD, seconds=10, prompt=ONE_SENTENCE, **OLD),
    _m("uform", "UForm Gen", "replicate", (I, T),
       "UForm's tiny generative captioner. Slow to start, slow to answer.", "zsxkib/uform-gen",
       warmth=COLD, seconds=40, prompt=ONE_SENTENCE, **OLD),
    _m("llava", "LLaVA 13B", "replicate", (I, T),
       "LLaVA vision-language model, asked for a one-sentence description.", "yorickvp/llava-13b",
       seconds=5, prompt=ONE_SENTENCE, max_tokens=100, **OLD),
    _m("claude-caption", "Claude caption", "anthropic", (I, T),
       "Claude describes the picture in one vivid sentence.", "claude-sonnet-4-5", seconds=4,
       price=CLAUDE),
    _m("gemini-caption", "Gemini caption", "gemini", (I, T),
       "Gemini describes the picture in one vivid sentence.", "gemini-2.5-flash", seconds=3,
       price=GEMINI, thinking_budget=0),
    _m("gpt-caption", "GPT caption", "openai", (I, T),
       "GPT describes the picture in one vivid sentence.", "gpt-5-chat-latest", seconds=4, price=GPT),
    # --- language models ------------------------------------------------------------------
    _m("claude-4-sonnet", "Claude 4 Sonnet (Replicate)", "replicate", (T, T),
       "Claude 4 Sonnet through Replicate, asked to continue the idea in one sentence.",
       "anthropic/claude-4-sonnet", seconds=4, price=CLAUDE, official=True),
    _m("llama-3-8b", "Llama 3 8B Instruct", "replicate", (T, T),
       "Meta's small Llama 3, asked to continue the idea in one sentence.",
       "meta/meta-llama-3-8b-instruct", seconds=2, price=LLAMA_8B, official=True, max_tokens=200, **OLD),
    _m("llama-3-70b", "Llama 3 70B Instruct", "replicate", (T, T),
       "Meta's large Llama 3, asked to continue the idea in one sentence.",
       "meta/meta-llama-3-70b-instruct", seconds=4, price=LLAMA_70B, official=True, max_tokens=200),
    _m("gpt-5-chat", "GPT-5 chat", "openai", (T, T),
       "OpenAI's chat model, asked to continue the idea in one sentence.", "gpt-5-chat-latest",
       seconds=3, price=GPT),
    _m("claude-chat", "Claude", "anthropic", (T, T),
       "Claude, asked to continue the idea in one sentence.", "claude-sonnet-4-5", seconds=3,
       price=CLAUDE),
    _m("gemini-chat", "Gemini", "gemini", (T, T),
       "Gemini, asked to continue the idea in one sentence.", "gemini-2.5-flash", seconds=2,
       price=GEMINI, thinking_budget=0),
    _m("songifier", "Songifier", "openai", (T, T),
       "Turns any text into the lyrics of a short song.", "gpt-5-chat-latest", seconds=3, price=GPT,
       system="Rewrite the user's text as four lines of song lyrics. Reply with the lyrics only."),
    _m("rube-goldberg-helper", "Rube Goldberg helper", "replicate", (T, T),
       "Llama 3 turns a transcript into a picture prompt for the next contraption step.",
       "meta/meta-llama-3-70b-instruct", seconds=4, price=LLAMA_70B, official=True, max_tokens=200,
       system="Turn the text into a one-sentence prompt for an image of a whimsical machine."),
    _m("translate-fr", "Translator to French", "openai", (T, T),
       "Translates the text into French.", "gpt-5-chat-latest", seconds=2, price=GPT,
       system="Translate the user's text into French. Reply with the translation only."),
    _m("translate-ja", "Translator to Japanese", "openai", (T, T),
       "Translates the text into Japanese.", "gpt-5-chat-latest", seconds=2, price=GPT,
       system="Translate the user's text into Japanese. Reply with the translation only."),
    _m("translate-es", "Translator to Spanish", "openai", (T, T),
       "Translates the text into Spanish.", "gpt-5-chat-latest", seconds=2, price=GPT,
       system="Translate the user's text into Spanish. Reply with the translation only."),
    _m("translate-ko", "Translator to Korean", "openai", (T, T),
       "Translates the text into Korean.", "gpt-5-chat-latest", seconds=2, price=GPT,
       system="Translate the user's text into Korean. Reply with the translation only."),
    # --- speech recognition -----------------------------------------------------------------
    _m("whisper", "Whisper", "replicate", (A, T),
       "OpenAI's Whisper speech recognition, any language.", "openai/whisper", seconds=5,
       transcription="plain text", condition_on_previous_text=False, output_key="transcription"),
    _m("gemini-listener", "Gemini listener", "gemini", (A, T),
       "Gemini transcribes what it hears, or describes the sound when there are no words.",
       "gemini-2.5-flash", seconds=4, price=GEMINI, thinking_budget=0),
    # --- speech and music -------------------------------------------------------------------
    _m("magnet", "MAGNeT", "replicate", (T, A),
       "Meta's MAGNeT: ten seconds of music from a description, non-autoregressively.", "lucataco/magnet",
       warmth=COLD, seconds=30, model="facebook/magnet-medium-10secs", variations=1),
    _m("flux-music", "FLUX Music", "replicate", (T, A),
       "A rectified-flow transformer that turns a description into music.", "zsxkib/flux-music",
       warmth=COLD, seconds=40, model_version="base", steps=50, output_key="wav"),
    _m("lyria-2", "Lyria 2", "replicate", (T, A),
       "Google's Lyria 2: 48 kHz stereo music from a description.", "google/lyria-2", seconds=20,
       official=True),
    _m("xtts", "XTTS v2 speech", "replicate", (T, A),
       "Coqui XTTS v2: multilingual text-to-speech, in English.", "lucataco/xtts-v2", warmth=COLD,
       seconds=20, field="text", language="en", speaker=XTTS_SPEAKER),
    _m("xtts-fr", "XTTS v2 speech (French)", "replicate", (T, A),
       "Coqui XTTS v2 speaking French.", "lucataco/xtts-v2", warmth=COLD, seconds=20, field="text",
       language="fr", speaker=XTTS_SPEAKER),
    _m("xtts-ja", "XTTS v2 speech (Japanese)", "replicate", (T, A),
       "Coqui XTTS v2 asked for Japanese, which the lucataco/xtts-v2 predictor does not offer: "
       "Replicate refuses every call. Korean (xtts-ko) took its place in the Cocktail Party.",
       "lucataco/xtts-v2", warmth=COLD, seconds=20, field="text", language="ja",
       speaker=XTTS_SPEAKER, deprecated=True),
    _m("xtts-es", "XTTS v2 speech (Spanish)", "replicate", (T, A),
       "Coqui XTTS v2 speaking Spanish.", "lucataco/xtts-v2", warmth=COLD, seconds=20, field="text",
       language="es", speaker=XTTS_SPEAKER),
    _m("xtts-ko", "XTTS v2 speech (Korean)", "replicate", (T, A),
       "Coqui XTTS v2 speaking Korean.", "lucataco/xtts-v2", warmth=COLD, seconds=20, field="text",
       language="ko", speaker=XTTS_SPEAKER),
    _m("stable-audio-open", "Stable Audio Open", "replicate", (T, A),
       "Stability AI's Stable Audio Open: sound effects and music from text.",
       "stackadoc/stable-audio-open-1.0", warmth=COLD, seconds=30, seconds_total=8),
    _m("musicgen", "MusicGen", "replicate", (T, A),
       "Meta's MusicGen: music from a description. Takes ages.", "meta/musicgen", warmth=COLD,
       seconds=90, model_version="stereo-large", duration=8, output_format="wav"),
    _m("riffusion", "Riffusion", "replicate", (T, A),
       "Riffusion: music from a spectrogram diffusion model.", "riffusion/riffusion", warmth=COLD,
       seconds=15, field="prompt_a", output_key="audio", **OLD),
    # --- audio to audio ---------------------------------------------------------------------
    _m("musicgen-continue", "MusicGen continuation", "replicate", (A, A),
       "MusicGen hears a sound and keeps playing from it. Takes ages.", "meta/musicgen", warmth=COLD,
       seconds=90, field="input_audio", continuation=True, prompt="keep playing, the same mood",
       model_version="stereo-melody-large", duration=8, output_format="wav"),
)


class Catalogue(Mapping[str, Model]):
    """An immutable id -> Model mapping with errors that suggest what was meant."""

    def __init__(self, models: Iterable[Model]) -> None:
        self._models: dict[str, Model] = {}
        for model in models:
            if model.id in self._models:
                raise ValueError(f"duplicate model id {model.id!r} in the catalogue")
            self._models[model.id] = model

    def __getitem__(self, model_id: str) -> Model:
        try:
            return self._models[model_id]
        except KeyError:
            raise UnknownModelError(self._unknown(model_id)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    def active(self) -> list[Model]:
        """The models a curator may choose: every one not deprecated."""
        return [m for m in self._models.values() if not m.deprecated]

    def describe(self, model_id: str, given: MediaType = T, gives: MediaType = T) -> Model:
        return describe(self, model_id, given, gives)

    def _unknown(self, model_id: str) -> str:
        import difflib  # pure, and only needed on the error path

        close = difflib.get_close_matches(model_id, self._models, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `panic-edge models` lists them"
        return f"unknown model {model_id!r}{hint}"


def describe(catalogue: Mapping[str, Model], model_id: str, given: MediaType = T,
             gives: MediaType = T) -> Model:
    """The model, or a placeholder for one no longer in the catalogue (a history row may name it):
    pages, the API and nodes show the placeholder instead of failing."""
    return catalogue.get(model_id) or unknown_model(model_id, given, gives)


def label_of(labels: Mapping[str, str], model_id: str) -> str:
    """The name shown for ``model_id`` from a table of labels (id -> label): the placeholder's name
    ("Unknown model (id)") for an id the catalogue no longer has."""
    return labels.get(model_id) or unknown_model(model_id).label


def unknown_model(model_id: str, given: MediaType = T, gives: MediaType = T) -> Model:
    """What history shows for a model id that is not in the catalogue (any more)."""
    return Model(id=model_id, name=f"Unknown model ({model_id})", platform="unknown", input=given,
                 output=gives, description="This model is no longer in the catalogue; its past outputs "
                 "are kept, but a network naming it cannot run.", deprecated=True)


CATALOGUE = Catalogue(MODELS)
