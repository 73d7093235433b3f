"""The few-shot test beds (issue 24.4): a frozen branch's outputs on a support pool (where the k shots are
drawn) and a query set (where they are scored), for a corpus or a person the branch never saw.

- voice-corpus: leave one speech corpus out. The base is a VoiceNet trained by voice_recipe.train on the
  other four corpora's train speakers (saved once under the runs folder); the shipped audio.pt saw all five
  corpora and is not used here. Shots come from the held-out corpus's train speakers (TESS: OAF), the
  query is its dev + test speakers (TESS: YAF), so a shot and a query clip never share a speaker.
- voice-person: each test speaker of RAVDESS, URDU, EMOVO and Indian EmoSpeech, through the shipped audio.pt
  (trained on the train speakers only). Shots and query are that speaker's clips; a class is used only
  where the speaker has more than k clips of it.
- text-corpus: a text corpus the base never saw (EmoryNLP by default), through the MELD-only text branch
  (the shipped MELD fine-tuned MiniLM and its MELD-only head). Shots from its train split, query a fixed
  subset of its test split.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.checkpoint import WEIGHTS
from agf_core.models.voice import VoiceNet, VoiceNetConfig

log = logging.getLogger(__name__)
# The MELD-only text head shipped before session 6: where the README puts it, else the cache's runs folder.
MELD_ONLY_PLACES = (Path("runs/text_meld_only.pt"), Path("~/.cache/agf/runs/text_meld_only.pt").expanduser())
MELD_ONLY_TEXT = next((p for p in MELD_ONLY_PLACES if p.is_file()), MELD_ONLY_PLACES[0])
MELD_ONLY_HINT = ("the MELD-only text head shipped before session 6: `git show 667ed6e:agf_core/weights/text.pt "
                  "> <path>`, then pass --text-base <path>")


@dataclass
class Bed:
    """Frozen branch outputs of one held-out corpus or person. `prior` is a frozen part of the branch that an
    adapter does not retrain (the voice's linear head): p = mix * softmax(head(h)) + (1 - mix) * prior."""
    name: str
    h: np.ndarray                  # (N, 256) branch embeddings
    logits: np.ndarray             # (N, 7) the branch head's logits on h
    y: np.ndarray                  # (N,)
    support: np.ndarray            # (N,) bool: rows the shots are drawn from
    query: np.ndarray              # (N,) bool: rows scored
    classes: tuple[int, ...]       # the classes the bed carries (predictions are restricted to them)
    out: torch.nn.Linear           # the branch's output layer (logits = out(h))
    prior: np.ndarray | None = None   # (N, 7) probabilities, or None
    mix: float = 1.0
    rows: list = field(default_factory=list)   # text beds: the Utterance of every row (prompt tuning reads them)
    branch: object = None                      # text beds: the TextBranch (frozen encoder + head) prompts run through
    context_x: np.ndarray | None = None        # text beds: (N, H) the frozen encoder's context half of every row

    def logp(self, logits: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        """Log-probabilities (R, 7) of the branch with its head's logits replaced by `logits` (R, 7)."""
        p = logits.softmax(-1)
        if self.prior is not None:
            p = self.mix * p + (1 - self.mix) * torch.from_numpy(self.prior[rows])
        return p.clamp_min(1e-8).log()


# ----------------------------------------------------------------------------------------------- voice
def load_voice(path: str | Path) -> VoiceNet:
    ck = checkpoint.load(path, "audio")
    net = VoiceNet(VoiceNetConfig(**ck["config"]["voice"]))
    net.load_state_dict(ck["state_dict"])
    return net.eval()


def loco_voice(data_root: str, held: str, runs: Path) -> VoiceNet:
    """The VoiceNet trained (voice_recipe's recipe) without `held`; trained once, then loaded from runs/."""
    path = runs / f"voice_loco_{held}.pt"
    if path.exists():
        return load_voice(path)
    from agf_core.training.speech_corpora import CORPORA
    from agf_core.training.voice_features import all_splits
    from agf_core.training.voice_recipe import DEV, merged, save, train
    sets = all_splits(data_root)
    rest = [c for c in CORPORA if c != held]
    net, best = train(merged(sets, [(c, "train") for c in rest]), [sets[k] for k in DEV if k[0] != held])
    save(net, path, {"train": f"train splits of {', '.join(rest)} (voice_recipe); {held} held out", "selection": best})
    log.info("LOCO voice base without %s: %s", held, best)
    return net


@torch.no_grad()
def voice_outputs(net: VoiceNet, s) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A VoiceSet through a VoiceNet -> embeddings (N, 256), MLP logits (N, 7), linear-head probabilities (N, 7)."""
    z = net.standardize(torch.from_numpy(s.x), torch.from_numpy(s.has_egemaps))       # (N, 856)
    h, logits = net.mlp(z)
    return h.numpy(), logits.numpy(), net.linear(z).softmax(-1).numpy()


def voice_bed(name: str, net: VoiceNet, s, support: np.ndarray, query: np.ndarray, classes: tuple[int, ...]) -> Bed:
    h, logits, prior = voice_outputs(net, s)
    return Bed(name, h, logits, s.y, support, query, classes, net.out[-1], prior, net.config.mix)


def voice_corpus_beds(data_root: str, runs: Path) -> list[Bed]:
    from agf_core.training.speech_corpora import CORPORA, CORPUS_CLASSES, TESS_SPEAKERS
    from agf_core.training.voice_features import SPLITS, VoiceSet, voice_set
    beds = []
    for held in CORPORA:
        s = VoiceSet.concat([voice_set(data_root, held, split) for split in SPLITS[held]]).clean()
        # SPLITS lists "train" first: its clean rows lead the concatenation
        shots_from = (s.speaker == TESS_SPEAKERS[0] if held == "tess"
                      else np.arange(len(s.y)) < len(voice_set(data_root, held, "train").clean().y))
        beds.append(voice_bed(held, loco_voice(data_root, held, runs), s, shots_from, ~shots_from,
                              CORPUS_CLASSES[held]))
    return beds


def voice_person_beds(data_root: str) -> list[Bed]:
    """One bed per test speaker: shots and query both come from the speaker's clips (an empty `query` tells
    the protocol to score the clips not drawn as shots)."""
    from agf_core.training.speech_corpora import CORPUS_CLASSES
    from agf_core.training.voice_features import voice_set
    net = load_voice(WEIGHTS / "audio.pt")
    beds = []
    for corpus in ("ravdess", "urdu", "emovo", "indian"):
        s = voice_set(data_root, corpus, "test")
        for spk in np.unique(s.speaker):
            one = s.select(s.speaker == spk)
            everything = np.ones(len(one.y), bool)
            beds.append(voice_bed(f"{corpus}/{spk}", net, one, everything, ~everything, CORPUS_CLASSES[corpus]))
    return beds


# ----------------------------------------------------------------------------------------------- text
def text_bed(data_root: str, corpus: str, base: Path, query_size: int, seed: int = 0) -> Bed:
    """A text corpus through the MELD-only text branch: train split = shots, a fixed test subset = query."""
    from agf_core.branches import TextBranch
    from agf_core.training.text_corpora import CORPUS_CLASSES, check_corpus, read_text_corpus
    from agf_core.training.text_recipe import capped, corpus_features, encoder_digest
    check_corpus(corpus)
    if not base.is_file():
        raise FileNotFoundError(f"text base {base} not found: {MELD_ONLY_HINT}")
    trained = checkpoint.load(base, "text")["meta"].get("train_corpora") or ["meld"]
    if corpus in trained:
        raise ValueError(f"text base {base} was trained on {corpus}; pick a corpus it never saw")
    if encoder_digest(base) != encoder_digest(WEIGHTS / "text.pt"):
        raise ValueError(f"text base {base} has another encoder than the shipped text.pt; the cached encodings "
                         "are the shipped encoder's")
    branch = TextBranch(base)
    parts, rows = [], []
    for split in ("train", "test"):
        d = corpus_features(data_root, corpus, split, WEIGHTS / "text.pt", [])
        r = capped(read_text_corpus(data_root, corpus, split, branch.encoder.config.context_turns), split)
        keep = np.arange(len(r))
        if split == "test" and len(r) > query_size:
            keep = np.sort(np.random.default_rng(seed).choice(len(r), query_size, replace=False))
        parts.append((d["x"][keep], d["y"][keep], np.full(len(keep), split == "train")))
        rows += [r[i] for i in keep]
        if [r[i].label for i in keep] != d["y"][keep].tolist():
            raise RuntimeError(f"cached {corpus} {split} encodings are not in the corpus's row order; clear the cache")
    x, y, support = (np.concatenate(p) for p in zip(*parts))
    with torch.no_grad():
        h, logits = branch.head(torch.from_numpy(x))
    return Bed(corpus, h.numpy(), logits.numpy(), y, support, ~support, CORPUS_CLASSES[corpus], branch.head.out[-1],
               rows=rows, branch=branch, context_x=x[:, branch.encoder.hidden:])
