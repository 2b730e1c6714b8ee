"""Load the policy YAML files: the shipped defaults or the user's own."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from threading import Lock
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from liveinspect.errors import PolicyError
from liveinspect.policy.labels import LabelPolicy
from liveinspect.policy.models import ArticlesFile, ClaimsFile, LadderFile, NegativeListFile
from liveinspect.policy.policy import Policy
from liveinspect.policy.products import ProductRulesFile
from liveinspect.policy.qr import QrRulesFile
from liveinspect.policy.scenes import ScenePromptsFile

PathLike = str | Path
_FileModel = TypeVar("_FileModel", bound=BaseModel)

_FILES: dict[str, type[BaseModel]] = {
    "articles": ArticlesFile,
    "negative_list": NegativeListFile,
    "claims": ClaimsFile,
    "ladder": LadderFile,
    "qr_rules": QrRulesFile,
    "scene_prompts": ScenePromptsFile,
    "aigc_labels": LabelPolicy,
    "product_rules": ProductRulesFile,
}

POLICY_FILES = tuple(_FILES)

_cache: dict[tuple, Policy] = {}
_cache_lock = Lock()


def default_policy_path(name: str) -> Path:
    """Where the shipped file `name` (one of `POLICY_FILES`) lies."""
    if name not in _FILES:
        raise PolicyError(f"unknown policy file {name!r}; known: {', '.join(_FILES)}")
    return Path(str(resources.files("liveinspect.policy").joinpath(f"{name}.yaml")))


def _location(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _read(path: Path, model: type[_FileModel]) -> tuple[_FileModel, bytes]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise PolicyError(f"{path}: cannot read policy file: {error.strerror or error}") from error
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise PolicyError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data), raw
    except ValidationError as error:
        problems = "; ".join(f"field {_location(e['loc'])}: {e['msg']}" for e in error.errors())
        raise PolicyError(f"{path}: {problems}") from error


def _check_category_articles(path: Path, negative_list: NegativeListFile,
                             articles: ArticlesFile) -> None:
    known = {a.ref for a in articles.articles}
    for index, category in enumerate(negative_list.categories):
        unknown = [ref for ref in category.articles if ref not in known]
        if unknown:
            raise PolicyError(f"{path}: field categories.{index}.articles ({category.id}): "
                              f"unknown article refs {unknown}")


def _file_key(path: Path) -> tuple:
    try:
        stat = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def load_policy(articles: PathLike | None = None, negative_list: PathLike | None = None,
                claims: PathLike | None = None, ladder: PathLike | None = None,
                qr_rules: PathLike | None = None, scene_prompts: PathLike | None = None,
                aigc_labels: PathLike | None = None, product_rules: PathLike | None = None) -> Policy:
    """Load and validate the policy; any file not given is the shipped default.

    Raises `PolicyError` naming the file and the field when a file is
    missing or malformed. Policies are cached per set of files (and their
    modification times), so the default policy is parsed once per process.
    The version is a hash over all the files, so a report names the exact rules that graded it.
    """
    given = {"articles": articles, "negative_list": negative_list, "claims": claims,
             "ladder": ladder, "qr_rules": qr_rules, "scene_prompts": scene_prompts,
             "aigc_labels": aigc_labels, "product_rules": product_rules}
    paths = {name: Path(value) if value is not None else default_policy_path(name)
             for name, value in given.items()}
    key = tuple(_file_key(paths[name]) for name in _FILES)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    loaded: dict[str, BaseModel] = {}
    digest = hashlib.sha256()
    for name, model in _FILES.items():
        loaded[name], raw = _read(paths[name], model)
        digest.update(name.encode() + b"\0" + raw + b"\0")
    _check_category_articles(paths["negative_list"], loaded["negative_list"], loaded["articles"])
    policy = Policy(files=loaded, version=digest.hexdigest()[:12], paths=paths)
    with _cache_lock:
        _cache[key] = policy
    return policy


def load_policy_dir(folder: PathLike | None) -> Policy:
    """The policy from a folder holding any of the policy files (`POLICY_FILES` + ".yaml"); a
    file the folder lacks is the shipped default. None: the shipped policy."""
    if folder is None:
        return load_policy()
    folder = Path(folder)
    if not folder.is_dir():
        raise PolicyError(f"policy folder {folder} does not exist")
    files = {name: folder / f"{name}.yaml" for name in _FILES if (folder / f"{name}.yaml").is_file()}
    if not files:
        raise PolicyError(f"{folder} holds none of {', '.join(f'{n}.yaml' for n in _FILES)}")
    return load_policy(**files)
