"""open_clip loader, zero-shot scoring and linear heads on a tiny CLIP built here with random weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from liveinspect.errors import CheckpointError, LiveInspectError, WeightsNotFoundError
from liveinspect.models.clip import (
    ClipModel,
    LinearHead,
    ZeroShotClassifier,
    register_model_config,
    train_linear_head,
)

TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    name = register_model_config("liveinspect-test-tiny", TINY_CONFIG)
    model = open_clip.create_model(name, pretrained=None)
    folder = tmp_path_factory.mktemp("tiny-clip")
    path = folder / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    torch.save(model.state_dict(), folder / "tiny.pt")
    return name, path, model


class PicklePayload:
    """An arbitrary object: weights_only loading must refuse to unpickle it."""


def _squares(colour: tuple[int, int, int], count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        image = rng.integers(0, 60, (48, 48, 3), dtype=np.uint8)
        x, y = rng.integers(0, 16, 2)
        image[y:y + 32, x:x + 32] = colour
        images.append(image)
    return images


def test_loads_safetensors_and_matches_the_original_model(tiny_checkpoint):
    name, path, original = tiny_checkpoint
    clip = ClipModel.load(name, path)
    assert clip.version.startswith(f"{name}@")
    images = _squares((200, 30, 30), 3, seed=1)
    embeddings = clip.embed_images(images, batch_size=2)  # two batches: 2 + 1
    assert embeddings.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    with torch.no_grad():
        pixels = torch.stack([clip.preprocess(__import__("PIL.Image").Image.fromarray(i)) for i in images])
        expected = original.eval().encode_image(pixels, normalize=True).numpy()
    np.testing.assert_allclose(embeddings, expected, atol=1e-5)


def test_numpy_preprocessing_matches_open_clips_transform(tiny_checkpoint):
    from PIL import Image

    from liveinspect.models.clip.preprocess import ImagePreprocess

    name, path, _ = tiny_checkpoint
    clip = ClipModel.load(name, path)
    assert isinstance(clip.image_preprocess, ImagePreprocess)
    rng = np.random.default_rng(4)
    for shape in ((48, 48), (50, 81), (97, 40), (20, 31), (33, 32)):  # down, up, odd crops
        image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        expected = clip.preprocess(Image.fromarray(image)).numpy()
        np.testing.assert_allclose(clip.image_preprocess(image), expected, atol=1e-5, err_msg=str(shape))
    squash = ImagePreprocess((24, 40), (0.5,) * 3, (0.25,) * 3, "bilinear", "squash")
    assert squash(rng.integers(0, 256, (10, 70, 3), dtype=np.uint8)).shape == (3, 24, 40)
    assert not ImagePreprocess.supports({"size": (24, 40), "resize_mode": "shortest"})
    with pytest.raises(LiveInspectError):
        clip.image_preprocess(np.zeros((8, 8), np.float32))


def test_loads_a_weights_only_torch_file_too(tiny_checkpoint):
    name, path, _ = tiny_checkpoint
    from_pt = ClipModel.load(name, path.with_name("tiny.pt"))
    from_st = ClipModel.load(name, path)
    texts = ["a red square", "一个蓝色方块"]
    np.testing.assert_allclose(from_pt.embed_texts(texts), from_st.embed_texts(texts), atol=1e-6)


def test_local_dir_layout_gives_architecture_and_weights(tiny_checkpoint, tmp_path):
    _, path, _ = tiny_checkpoint
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CONFIG}))
    (tmp_path / "open_clip_model.safetensors").write_bytes(path.read_bytes())
    clip = ClipModel.load(checkpoint=tmp_path)
    assert clip.embed_images(_squares((0, 0, 200), 1, seed=2)).shape == (1, 32)


def test_missing_weights_say_so_without_downloading(tiny_checkpoint, tmp_path):
    name, _, _ = tiny_checkpoint
    with pytest.raises(WeightsNotFoundError, match="no weights"):
        ClipModel.load(name)
    with pytest.raises(WeightsNotFoundError, match="not in open_clip's cache"):
        ClipModel.load("ViT-B-32", pretrained="laion2b_s34b_b79k", cache_dir=tmp_path)
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        ClipModel.load(name, tmp_path / "absent.safetensors")
    with pytest.raises(LiveInspectError, match="unknown open_clip architecture"):
        ClipModel.load("no-such-arch", tmp_path / "x.safetensors")


def test_wrong_or_hostile_checkpoints_are_refused(tiny_checkpoint, tmp_path):
    name, _, _ = tiny_checkpoint
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        ClipModel.load(name, garbage)

    hostile = tmp_path / "hostile.pt"
    torch.save({"state_dict": PicklePayload()}, hostile)
    with pytest.raises(CheckpointError):
        ClipModel.load(name, hostile)
    other = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({"visual.conv1.weight": torch.zeros(3, 3)}, str(other))
    with pytest.raises(CheckpointError, match="does not fit"):
        ClipModel.load(name, other)


def test_hf_text_tower_needs_a_local_folder(tmp_path):
    config = {**TINY_CONFIG, "text_cfg": {"hf_model_name": "xlm-roberta-base",
                                          "hf_tokenizer_name": "xlm-roberta-base",
                                          "hf_pooler_type": "mean_pooler"}}
    name = register_model_config("liveinspect-test-tiny-xlmr", config)
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(WeightsNotFoundError, match="text_model_dir"):
        ClipModel.load(name, weights)


def test_zero_shot_probabilities_match_clip_logits(tiny_checkpoint):
    name, path, original = tiny_checkpoint
    clip = ClipModel.load(name, path)
    prompts = {"red": ["a red square", "一个红色方块"], "blue": ["a blue square"], "none": ["noise"]}
    classifier = ZeroShotClassifier(clip, prompts)
    embeddings = clip.embed_images(_squares((220, 20, 20), 4, seed=3))
    probabilities = classifier.probabilities(embeddings)
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # Single-prompt classes must reproduce CLIP's own image-text logits exactly.
    text = clip.embed_texts(["a blue square", "noise"])
    logits = clip.logit_scale * embeddings @ text.T
    ratio = probabilities[:, 1] / probabilities[:, 2]
    np.testing.assert_allclose(ratio, np.exp(logits[:, 0] - logits[:, 1]), rtol=1e-4)
    assert [label for label, _ in classifier.top(embeddings)][0] in prompts
    with pytest.raises(LiveInspectError):
        ZeroShotClassifier(clip, {"empty": []})


def test_linear_head_training_raises_accuracy_and_round_trips(tiny_checkpoint, tmp_path):
    name, path, _ = tiny_checkpoint
    clip = ClipModel.load(name, path)
    train = clip.embed_images(_squares((230, 40, 40), 24, 10) + _squares((40, 40, 230), 24, 11))
    test = clip.embed_images(_squares((230, 40, 40), 20, 12) + _squares((40, 40, 230), 20, 13))
    train_labels = ["red"] * 24 + ["blue"] * 24
    test_labels = ["red"] * 20 + ["blue"] * 20

    # Before training: a head with no information predicts one class for everything.
    untrained = LinearHead(np.zeros((2, 32), np.float32), np.zeros(2, np.float32), ["blue", "red"])
    trained = train_linear_head(train, train_labels, epochs=300, embedding_model=clip.version)

    def accuracy(head: LinearHead) -> float:
        return float(np.mean([p == t for p, t in zip(head.predict(test), test_labels, strict=True)]))

    assert accuracy(untrained) == 0.5
    assert accuracy(trained) >= 0.9
    assert accuracy(trained) > accuracy(untrained)

    saved = trained.save(tmp_path / "head.safetensors")
    loaded = LinearHead.load(saved)
    assert loaded.labels == ["blue", "red"] and loaded.embedding_model == clip.version
    np.testing.assert_allclose(loaded.probabilities(test), trained.probabilities(test), rtol=1e-6)
    with pytest.raises(CheckpointError):
        LinearHead.load(tmp_path / "missing.safetensors")


def _tiny_xlmr_folder(folder):
    """A tiny XLM-RoBERTa config and a WordPiece tokenizer trained on a few zh/en prompts."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig

    tokenizer = Tokenizer(models.WordPiece(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=200, special_tokens=["<s>", "<pad>", "</s>", "<unk>",
                                                                        "<mask>"])
    tokenizer.train_from_iterator(["a photo of a handgun", "一张手枪的照片", "a red square"], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                   model_max_length=16)
    fast.save_pretrained(folder)
    XLMRobertaConfig(vocab_size=fast.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=40, pad_token_id=1).save_pretrained(folder)
    return fast


def test_multilingual_hf_text_tower_from_a_local_folder(tmp_path, monkeypatch):
    import open_clip
    from safetensors.torch import save_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tokenizer = _tiny_xlmr_folder(tmp_path)
    vision = {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8}
    text = {"hf_pooler_type": "mean_pooler", "context_length": 16}
    local = register_model_config("liveinspect-test-xlmr-local", {
        "embed_dim": 16, "vision_cfg": vision,
        "text_cfg": {**text, "hf_model_name": str(tmp_path), "hf_tokenizer_name": str(tmp_path)}})
    torch.manual_seed(0)
    original = open_clip.create_model(local, pretrained=None, pretrained_text=False).eval()
    save_file({k: v.contiguous() for k, v in original.state_dict().items()}, str(tmp_path / "w.safetensors"))
    # The published config names the hub model; the loader points it at the local folder.
    published = register_model_config("liveinspect-test-xlmr", {
        "embed_dim": 16, "vision_cfg": vision,
        "text_cfg": {**text, "hf_model_name": "xlm-roberta-base", "hf_tokenizer_name": "xlm-roberta-base"}})
    clip = ClipModel.load(published, tmp_path / "w.safetensors", text_model_dir=tmp_path)
    assert clip.hf_text_tower == str(tmp_path)
    prompts = ["一张手枪的照片", "a photo of a handgun"]
    assert tokenizer.unk_token_id not in tokenizer("一张手枪的照片")["input_ids"]
    with torch.no_grad():
        expected = original.encode_text(open_clip.get_tokenizer(local)(prompts), normalize=True).numpy()
    np.testing.assert_allclose(clip.embed_texts(prompts), expected, atol=1e-5)


def test_prompt_sets_come_from_policy_data(tmp_path):
    from liveinspect.errors import PolicyError
    from liveinspect.models.clip.prompts import load_prompt_set
    from liveinspect.policy import load_policy
    from liveinspect.schema import FindingKind

    policy = load_policy()
    english = load_prompt_set(policy=policy, languages=("en",))
    both = load_prompt_set(policy=policy)
    firearms = both.by_id["negative_list:firearms"]
    assert firearms.kind is FindingKind.negative_list_product and firearms.category == "firearms"
    assert set(english.by_id["negative_list:firearms"].prompts) == set(policy.image_prompts("en")["firearms"])
    assert set(policy.image_prompts("zh")["firearms"]) <= set(firearms.prompts)
    assert both.by_id["presenter_studio"].kind is None  # background
    assert both.by_id["revealing_clothing"].kind is FindingKind.unsuitable_attire
    assert len(both.classes) == len(english.classes) == len(both.as_mapping())
    with pytest.raises(PolicyError):
        load_prompt_set(languages=("fr",))
    bad = tmp_path / "scenes.yaml"
    bad.write_text("background:\n  - {id: a, prompts: {en: [x]}}\n  - {id: a, prompts: {en: [y]}}\n")
    with pytest.raises(PolicyError, match="duplicate"):
        load_prompt_set(bad)
    bad.write_text("background: []\n")
    with pytest.raises(PolicyError):
        load_prompt_set(bad)
