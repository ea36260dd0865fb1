#!/usr/bin/env python3
"""Writes the CLIP parity fixtures in tests/fixtures/clip/ from Hugging Face transformers
and open_clip (random weights; no hub access needed).

    python3 -m venv ../ref-venv
    ../ref-venv/bin/pip install torch transformers open-clip-torch safetensors pillow
    HF_HUB_OFFLINE=1 ../ref-venv/bin/python tools/reference/clip_fixtures.py [--bench | --bench-only]

Outputs, per model config (`tiny_quick_gelu`, `tiny_gelu`):
  <name>/config.json, <name>/model.safetensors   the checkpoint, exactly as save_pretrained writes it
  <name>/reference.safetensors                   pixel_values, text/image features, layer-0 states
  <name>/prompts.json                            prompts and their token ids
plus tiny_gelu_fp16/ (an fp16 copy), tokenizer_corpus.json (open_clip ids for >= 300 strings)
and preprocess/ (PNG inputs and CLIPImageProcessor outputs).
"""
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

import open_clip

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "clip"
OUT.mkdir(parents=True, exist_ok=True)
torch.manual_seed(20261128)
rng = np.random.default_rng(20261128)
tokenize = open_clip.get_tokenizer("ViT-B-32")

CONFIGS = {
    # OpenAI-style: quick_gelu, EOT pooling by token id.
    "tiny_quick_gelu": dict(
        text_config=dict(hidden_size=12, intermediate_size=40, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77,
                         hidden_act="quick_gelu", eos_token_id=49407),
        vision_config=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                           num_attention_heads=3, image_size=32, patch_size=8,
                           hidden_act="quick_gelu"),
        projection_dim=40,
    ),
    # gelu, legacy eos_token_id=2 (argmax pooling), other patch size / widths / depth.
    "tiny_gelu": dict(
        text_config=dict(hidden_size=8, intermediate_size=24, num_hidden_layers=3,
                         num_attention_heads=2, max_position_embeddings=77,
                         hidden_act="gelu", eos_token_id=2, layer_norm_eps=1e-6),
        vision_config=dict(hidden_size=32, intermediate_size=80, num_hidden_layers=1,
                           num_attention_heads=4, image_size=48, patch_size=16,
                           hidden_act="gelu", layer_norm_eps=1e-6),
        projection_dim=24, logit_scale_init_value=2.0,
    ),
}

PROMPTS = [
    "an image of a goldfish.", "an image of a red square.", "a photo of a cat",
    "A Photo Of A Dog!", "an image of a traffic light.", "two zebras grazing in a field",
    "", "a", "The quick brown fox jumps over the lazy dog " * 6,
    "café crème brûlée", "an image of a 🐱.", "3.14159 & 42 &amp; friends",
]


def perturb(model):
    """Random init leaves LayerNorms at 1/0 and biases at 0; shake every tensor so each
    one changes the output and a mis-mapped key cannot go unnoticed."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                continue
            p.add_(torch.randn_like(p) * 0.05)


def make_model(name, cfg):
    config = CLIPConfig(**cfg)
    model = CLIPModel(config).eval()
    perturb(model)
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    ids = tokenize(PROMPTS)  # [n, 77], open_clip ids
    vc = config.vision_config
    pixels = torch.randn(3, 3, vc.image_size, vc.image_size)
    with torch.no_grad():
        text = model.get_text_features(input_ids=ids).pooler_output
        image = model.get_image_features(pixel_values=pixels).pooler_output
        text_states = model.text_model(input_ids=ids[:2], output_hidden_states=True).hidden_states
        vision_states = model.vision_model(pixel_values=pixels[:1], output_hidden_states=True).hidden_states
    save_file({
        "pixel_values": pixels.contiguous(),
        "text_features": text.contiguous(),
        "image_features": image.contiguous(),
        "text_embeddings": text_states[0].contiguous(),
        "text_layer0": text_states[1].contiguous(),
        "vision_embeddings": vision_states[0].contiguous(),
        "vision_layer0": vision_states[1].contiguous(),
    }, out / "reference.safetensors")
    (out / "prompts.json").write_text(json.dumps(
        {"prompts": PROMPTS, "input_ids": ids.tolist()}, ensure_ascii=False, indent=0) + "\n")
    return model


def fp16_copy(model, name):
    out = OUT / name
    half = CLIPModel(model.config).eval()
    half.load_state_dict(model.state_dict())
    half = half.half()
    half.save_pretrained(out, safe_serialization=True)


def bench():
    """ViT-B/32 at random weights: the PyTorch side of `brainclip bench clip`."""
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    model = CLIPModel(CLIPConfig()).eval()  # ViT-B/32 shapes, random weights
    short = [f"an image of a {c}." for c in categories[:50]]
    long_ = ["The quick brown fox jumps over the lazy dog. " * 12] * 50

    def timed(fn, repeats=3):
        fn()
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t)
        return best * 1e3

    with torch.inference_mode():
        for label, fn in [
            ("image batch 1", lambda: model.get_image_features(pixel_values=torch.randn(1, 3, 224, 224))),
            ("image batch 16", lambda: model.get_image_features(pixel_values=torch.randn(16, 3, 224, 224))),
            ("text 50 short prompts (padded to 77)", lambda: model.get_text_features(input_ids=tokenize(short))),
            ("text 50 full-length prompts", lambda: model.get_text_features(input_ids=tokenize(long_))),
        ]:
            print(f"pytorch {torch.__version__} {torch.get_num_threads()} threads: {label}: {timed(fn):.1f} ms")


# --- tokenizer corpus -------------------------------------------------------------------
CATEGORIES = """goldfish great white shark tiger shark hammerhead electric ray stingray cock hen
ostrich brambling goldfinch house finch junco indigo bunting robin bulbul jay magpie chickadee
water ouzel kite bald eagle vulture great grey owl fire salamander common newt eft spotted
salamander axolotl bullfrog tree frog tailed frog loggerhead leatherback turtle mud turtle
terrapin box turtle banded gecko common iguana American chameleon whiptail agama frilled lizard
alligator lizard Gila monster green lizard African chameleon Komodo dragon African crocodile
American alligator triceratops thunder snake ringneck snake hognose snake green snake king
snake garter snake water snake vine snake night snake boa constrictor rock python Indian cobra
green mamba sea snake horned viper diamondback sidewinder trilobite harvestman scorpion
tarantula tick centipede peacock quail partridge macaw toucan hornbill hummingbird goose
koala wombat jellyfish sea anemone flatworm snail slug chiton crab lobster crayfish hermit
crab isopod stork spoonbill flamingo bittern crane limpkin bustard pelican penguin albatross
whale dugong sea lion Chihuahua Maltese dog Pekinese beagle bloodhound tabby cat tiger cat
Persian cat lion tiger leopard snow leopard jaguar cheetah brown bear polar bear mongoose
ladybug weevil fly bee ant grasshopper cricket cockroach mantis cicada dragonfly butterfly
starfish sea urchin rabbit hamster porcupine beaver guinea pig zebra hog ox water buffalo
bison ram llama camel orangutan gorilla chimpanzee gibbon baboon panda airliner airship
ambulance banjo barn barrel basketball bathtub beacon bicycle binoculars birdhouse bookcase
bow tie broom bucket bullet train cab cannon canoe carousel castle cello chain saw chest
church cinema cliff clock cocktail shaker coffee mug computer keyboard container ship
convertible cowboy hat cradle crane crash helmet croquet ball dam desk digital clock dishwasher
dome drum dumbbell espresso maker fire engine fountain French horn garbage truck gas pump
golf ball gondola grand piano greenhouse guillotine hammer harmonica harp hourglass iPod
jeep jigsaw puzzle kimono laptop lawn mower lighthouse limousine mailbox maraca marimba
microwave minivan missile mitten monastery mosque motor scooter mountain bike obelisk oboe
ocarina organ padlock paddlewheel pagoda palace parachute park bench passenger car pay-phone
pencil sharpener piggy bank pinwheel pirate ship pool table pop bottle prayer rug projector
radio telescope red wine reel revolver rocking chair rugby ball saxophone school bus
screwdriver shopping cart ski mask sleeping bag slide rule snowmobile soccer ball solar dish
space shuttle speedboat steam locomotive stopwatch submarine suspension bridge swimming trunks
teapot teddy bear tennis ball thatched roof toaster totem pole tractor trombone trolleybus
umbrella unicycle vacuum violin volleyball waffle iron wall clock washing machine water tower
wine bottle wooden spoon yawl yurt comic book crossword puzzle street sign traffic light
bagel pretzel cheeseburger hotdog mashed potato broccoli cauliflower zucchini cucumber
artichoke bell pepper mushroom Granny Smith strawberry orange lemon fig pineapple banana
pomegranate pizza burrito espresso alp bubble coral reef geyser lakeside promontory sandbar
seashore valley volcano groom scuba diver daisy corn acorn buckeye hip rapeseed""".split("\n")
words = " ".join(CATEGORIES).split(" ")
categories = []
i = 0
while i < len(words):  # greedy two-word names keep some multi-word categories
    take = 2 if (i % 5 == 0 and i + 1 < len(words)) else 1
    categories.append(" ".join(words[i:i + take]))
    i += take

if "--bench-only" in sys.argv:
    bench()
    sys.exit(0)

corpus = []
for c in categories[:140]:
    corpus.append(f"an image of a {c}.")
for c in categories[140:200]:
    corpus.append(f"a photo of the {c}")
corpus += [c.upper() for c in categories[200:220]]
corpus += [
    "A man riding a wave on top of a surfboard.", "Two dogs playing with a frisbee in the park",
    "A red double-decker bus driving down a city street.", "a bowl of fruit, with apples & pears",
    "She said: \"hello!\" -- and left...", "what's that? it's a bird; no, it's a plane!",
    "we'll, they've, you're, I'm, he'd, it's", "hyphen-ated, under_score, slash/word, back\\slash",
    "(parentheses) [brackets] {braces} <angles>", "#hashtag @mention $100 50% a+b=c ~tilde ^caret",
    "1", "12", "123456789", "3.14159", "1,000,000", "2026-11-28", "10:45pm", "v2.0.1-beta",
    "room 101b", "007 James Bond", "½ ¾ ² ³", "Ⅻ roman twelve",
    "café", "naïve résumé", "Straße Größe", "São Paulo", "Zürich über alles", "El Niño",
    "Ελληνικά γράμματα", "русский текст", "中文字符测试", "日本語のテキスト", "한국어 텍스트",
    "עברית", "العربية", "हिन्दी", "ไทย", "Tiếng Việt có dấu",
    "emoji 😀", "🐱🐶🐭", "👩‍👩‍👧‍👦 family", "flags 🇫🇷🇯🇵", "thumbs 👍🏽", "❤️ heart", "☃ snowman",
    "  leading spaces", "trailing spaces   ", "multiple    inner     spaces", "tabs\tand\ttabs",
    "new\nlines\n\nhere", "carriage\r\nreturn", "no-break\u00a0space", "ideographic\u3000space",
    "thin\u2009space", "zero\u200bwidth", "line\u2028separator", "   ", "\t\n",
    "&amp;", "fish &amp; chips", "&lt;b&gt;bold&lt;/b&gt;", "&quot;quoted&quot;", "it&#39;s",
    "&#x1F600; smile", "&nbsp;nbsp", "&copy; 2026", "&amp;amp; double", "AT&T", "&unknown;",
    "\u201ccurly quotes\u201d", "\u2018single curly\u2019", "it\u2019s curly", "\ufb01ne ligature \ufb02ow",
    "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ", "ｈｅｌｌｏ１２３", "ｶﾀｶﾅ", "control\x07char", "del\x7fchar",
    "soft\u00adhyphen", "bom\ufeffmark", "e\u0301 combining", "\u212b angstrom", "ﬀ ﬃ ﬄ",
    "<start_of_text>", "<end_of_text> inside", "<|endoftext|>",
    "a" * 300, "word " * 100, "The quick brown fox jumps over the lazy dog. " * 10,
    "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "!!!???...", "----", "____", "....", "'", "''", "'s", "'t", "don't", "O'Neil's",
]
corpus += [f"an image of a {c}." for c in categories[220:260]]
assert len(corpus) >= 300, len(corpus)
ids = tokenize(corpus)
(OUT / "tokenizer_corpus.json").write_text(json.dumps(
    [{"text": t, "ids": i} for t, i in zip(corpus, ids.tolist())], ensure_ascii=False, indent=0) + "\n")

# --- preprocessing ------------------------------------------------------------------------
pre = OUT / "preprocess"
pre.mkdir(parents=True, exist_ok=True)
images = {}
for name, (w, h, mode) in {"wide_97x61.png": (97, 61, "RGB"), "tall_40x200.png": (40, 200, "RGB"),
                           "rgba_300x300.png": (300, 300, "RGBA"), "small_30x45.png": (30, 45, "RGB")}.items():
    # Smooth gradients plus noise: realistic enough that resampling differences show.
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w * 255, yy / h * 255, (xx + yy) / (w + h) * 255], -1)
    noise = rng.normal(0, 25, size=(h, w, 3))
    rgb = np.clip(base + noise, 0, 255).astype(np.uint8)
    if mode == "RGBA":
        alpha = rng.integers(0, 256, size=(h, w, 1), dtype=np.uint8)
        rgb = np.concatenate([rgb, alpha], -1)
    Image.fromarray(rgb, mode).save(pre / name)
    images[name] = Image.open(pre / name)
reference = {}
for size in [224, 64]:
    processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    for name, img in images.items():
        if size == 224 and name != "rgba_300x300.png":
            continue  # one full-size case keeps the fixtures small
        out = processor(images=img, return_tensors="pt")["pixel_values"][0]
        reference[f"{name}@{size}"] = out.contiguous()
save_file(reference, pre / "reference.safetensors")

# --- checkpoints --------------------------------------------------------------------------
models = {name: make_model(name, cfg) for name, cfg in CONFIGS.items()}
fp16_copy(models["tiny_gelu"], "tiny_gelu_fp16")
print(f"fixtures written to {OUT}")

if "--bench" in sys.argv:
    bench()
