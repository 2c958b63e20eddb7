"""The model catalogue: every model an installation can use, in one place.

Local models need no network and no keys; they run the demo and the tests. Cloud entries name
the platform client that calls them; their input marshalling (prompt templates, sizes, steps) and
output parsing live in ``params`` (docs/platforms.md lists the keys each client reads), their
gallery experience in the hints (warm or cold, typical seconds), their price where published.
Prices are US dollars as published by the platforms in 2025; check them before trusting a bill.
Replicate models without a pinned ``:version`` run their latest version, looked up at first use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from panic_edge.core.media import MediaType
from panic_edge.core.model import Hints, Model, Price, Warmth
from panic_edge.errors import UnknownModelError

T, I, A = MediaType.TEXT, MediaType.IMAGE, MediaType.AUDIO
WARM, COLD = Warmth.WARM, Warmth.COLD


def _m(id: str, name: str, platform: str, io: tuple[MediaType, MediaType], description: str,
       ref: str = "", warmth: Warmth = WARM, seconds: float = 5.0, price: Price | None = None,
       **params: object) -> Model:
    return Model(id=id, name=name, platform=platform, input=io[0], output=io[1],
                 description=description, ref=ref, hints=Hints(warmth, seconds), params=dict(params),
                 price=price)


def per_image(dollars: float) -> Price:
    return Price(per_call=dollars)


def per_million(tokens_in: float, tokens_out: float) -> Price:
    return Price(per_million_input=tokens_in, per_million_output=tokens_out)


GPT = per_million(1.25, 10.0)          # gpt-5-chat-latest
CLAUDE = per_million(3.0, 15.0)        # claude-sonnet-4-5
GEMINI = per_million(0.30, 2.50)       # gemini-2.5-flash
LLAMA_8B = per_million(0.05, 0.25)     # meta/meta-llama-3-8b-instruct on Replicate
LLAMA_70B = per_million(0.65, 2.75)    # meta/meta-llama-3-70b-instruct on Replicate
ONE_SENTENCE = "Describe this picture in one vivid sentence."


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
    _m("flux-schnell", "FLUX.1 [schnell]", "replicate", (T, I),
       "Black Forest Labs' fastest FLUX model: a picture in about a second.",
       "black-forest-labs/flux-schnell", seconds=2, price=per_image(0.003), official=True,
       output_format="webp", num_outputs=1, aspect_ratio="1:1", go_fast=True),
    _m("flux-dev", "FLUX.1 [dev]", "replicate", (T, I),
       "The larger open FLUX model: slower, richer pictures.",
       "black-forest-labs/flux-dev", seconds=8, price=per_image(0.025), official=True,
       output_format="webp", num_outputs=1, aspect_ratio="1:1", num_inference_steps=28),
    _m("sdxl", "Stable Diffusion XL", "replicate", (T, I),
       "Stability AI's SDXL base model.", "stability-ai/sdxl", seconds=6,
       width=1024, height=1024, num_inference_steps=30, refine="expert_ensemble_refiner"),
    _m("sdxl-lightning", "SDXL Lightning", "replicate", (T, I),
       "ByteDance's 4-step distilled SDXL: fast and punchy.",
       "bytedance/sdxl-lightning-4step", seconds=2, width=1024, height=1024, num_inference_steps=4),
    _m("sd-3.5-large", "Stable Diffusion 3.5 Large", "replicate", (T, I),
       "Stability AI's SD 3.5 large model.", "stability-ai/stable-diffusion-3.5-large", seconds=10,
       price=per_image(0.065), official=True, aspect_ratio="1:1", output_format="png"),
    _m("kandinsky", "Kandinsky 2.2", "replicate", (T, I),
       "Kandinsky's dreamy, painterly text-to-image model.", "ai-forever/kandinsky-2.2",
       warmth=COLD, seconds=20, width=1024, height=1024, num_inference_steps=50),
    _m("proteus", "Proteus v0.2", "replicate", (T, I),
       "An SDXL fine-tune with strong prompt following.", "datacte/proteus-v0.2", warmth=COLD, seconds=25,
       width=1024, height=1024, num_inference_steps=20, guidance_scale=7.5),
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
    _m("blip-2", "BLIP-2", "replicate", (I, T),
       "Salesforce's BLIP-2 captioner: short, literal captions.", "andreasjansson/blip-2", seconds=2,
       caption=True),
    _m("blip-3", "BLIP-3 (xGen-MM)", "replicate", (I, T),
       "Salesforce's BLIP-3 vision-language model, asked for one sentence.", "zsxkib/blip-3",
       seconds=4, question=ONE_SENTENCE),
    _m("florence-2", "Florence-2", "replicate", (I, T),
       "Microsoft's Florence-2 with detailed captions.", "lucataco/florence-2-large", seconds=4,
       task_input="More Detailed Caption", output_key="text"),
    _m("moondream", "Moondream 2", "replicate", (I, T),
       "A tiny vision-language model that describes pictures in a sentence.", "lucataco/moondream2",
       seconds=3, prompt=ONE_SENTENCE),
    _m("molmo", "Molmo 7B", "replicate", (I, T),
       "Allen AI's Molmo, an open vision-language model, asked for one sentence.", "zsxkib/molmo-7b",
       warmth=COLD, seconds=15, text=ONE_SENTENCE, max_new_tokens=100),
    _m("bunny", "Bunny", "replicate", (I, T),
       "Bunny, a small multimodal model (Phi-2 with SigLIP), asked for one sentence.",
       "adirik/bunny-phi-2-siglip", warmth=COLD, seconds=10, prompt=ONE_SENTENCE),
    _m("uform", "UForm Gen", "replicate", (I, T),
       "UForm's tiny generative captioner. Slow to start, slow to answer.", "zsxkib/uform-gen",
       warmth=COLD, seconds=40, prompt=ONE_SENTENCE),
    _m("llava", "LLaVA 13B", "replicate", (I, T),
       "LLaVA vision-language model, asked for a one-sentence description.", "yorickvp/llava-13b",
       seconds=5, prompt=ONE_SENTENCE, max_tokens=100),
    _m("claude-caption", "Claude caption", "anthropic", (I, T),
       "Claude describes the picture in one vivid sentence.", "claude-sonnet-4-5", seconds=4,
       price=CLAUDE),
    _m("gemini-caption", "Gemini caption", "gemini", (I, T),
       "Gemini describes the picture in one vivid sentence.", "gemini-2.5-flash", seconds=3,
       price=GEMINI, thinking_budget=0),
    _m("gpt-caption", "GPT caption", "openai", (I, T),
       "GPT describes the picture in one vivid sentence.", "gpt-5-chat-latest", seconds=4, price=GPT),
    # --- language models ------------------------------------------------------------------
    _m("llama-3-8b", "Llama 3 8B Instruct", "replicate", (T, T),
       "Meta's small Llama 3, asked to continue the idea in one sentence.",
       "meta/meta-llama-3-8b-instruct", seconds=2, price=LLAMA_8B, official=True, max_tokens=200),
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
    # --- speech recognition -----------------------------------------------------------------
    _m("whisper", "Whisper", "replicate", (A, T),
       "OpenAI's Whisper speech recognition, any language.", "openai/whisper", seconds=5,
       model="large-v3", output_key="transcription"),
    _m("gemini-listener", "Gemini listener", "gemini", (A, T),
       "Gemini transcribes what it hears, or describes the sound when there are no words.",
       "gemini-2.5-flash", seconds=4, price=GEMINI, thinking_budget=0),
    # --- speech and music -------------------------------------------------------------------
    _m("xtts", "XTTS v2 speech", "replicate", (T, A),
       "Coqui XTTS v2: multilingual text-to-speech, in English.", "lucataco/xtts-v2", warmth=COLD,
       seconds=20, field="text", language="en"),
    _m("xtts-fr", "XTTS v2 speech (French)", "replicate", (T, A),
       "Coqui XTTS v2 speaking French.", "lucataco/xtts-v2", warmth=COLD, seconds=20, field="text",
       language="fr"),
    _m("xtts-ja", "XTTS v2 speech (Japanese)", "replicate", (T, A),
       "Coqui XTTS v2 speaking Japanese.", "lucataco/xtts-v2", warmth=COLD, seconds=20, field="text",
       language="ja"),
    _m("xtts-es", "XTTS v2 speech (Spanish)", "replicate", (T, A),
       "Coqui XTTS v2 speaking Spanish.", "lucataco/xtts-v2", warmth=COLD, seconds=20, field="text",
       language="es"),
    _m("stable-audio-open", "Stable Audio Open", "replicate", (T, A),
       "Stability AI's Stable Audio Open: sound effects and music from text.",
       "stackadoc/stable-audio-open-1.0", warmth=COLD, seconds=30, seconds_total=8),
    _m("musicgen", "MusicGen", "replicate", (T, A),
       "Meta's MusicGen: music from a description. Takes ages.", "meta/musicgen", warmth=COLD,
       seconds=90, model_version="stereo-large", duration=8, output_format="wav"),
    _m("riffusion", "Riffusion", "replicate", (T, A),
       "Riffusion: music from a spectrogram diffusion model.", "riffusion/riffusion", warmth=COLD,
       seconds=15, field="prompt_a", output_key="audio"),
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

    def _unknown(self, model_id: str) -> str:
        import difflib  # pure, and only needed on the error path

        close = difflib.get_close_matches(model_id, self._models, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `panic-edge models` lists them"
        return f"unknown model {model_id!r}{hint}"


CATALOGUE = Catalogue(MODELS)
