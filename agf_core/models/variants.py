"""The fusion variants compared in the study, all behind one interface:

    model(h, logp, mask, meta) -> logits (B, 7), weights (B, M)
        h     {modality: (B, 256)} branch embeddings, zeros where absent
        logp  {modality: (B, 7)} branch log-probabilities, zeros where absent
        mask  (B, M) bool in MODALITIES order;  meta (B, 3) metadata ids (age, gender, timbre)

    agf          the design's AGF exactly: sigmoid gates from [h_i; m], softmax over the present ones
    agf_logit    improved AGF: softmax over the gate logits / a learned temperature, so a modality can be
                 switched almost off (fusion.py explains why)
    agf_nometa   agf_logit with gates that see no metadata
    agf_logit's gates are also taught, by an auxiliary loss, whether their branch is right
    (AGFModel.gate_loss); and it passes a lone modality through: with nothing to fuse, the branch's own prediction is
    returned (weight 1), so a single modality scores exactly as its branch (on the label-balanced tuples the
    other AGF variants beat the lone text and face branches, whose training labels were imbalanced).
    The three AGF variants share the same fusion body: projections to a 768-D common space (room for the
    three 256-D embeddings side by side) and a classifier with one hidden layer of 256; agf_nometa lacks
    the metadata encoder and the metadata half of each gate.
    agf_evidence AGF over the branches' evidence rather than their embeddings: each gate reads its branch's
                 log-probabilities, their entropy and m; the fused logits are a sharpened weighted geometric
                 mean of the branches (EvidenceGatedFusion). It cannot learn one corpus's embedding patterns,
                 so it can be trained on cross-fitted branch outputs (training/fusion/crossfit.py) and works
                 with any branch checkpoint: the shipped fusion.
    early        early fusion: concatenated embeddings (+ presence flags, + m) -> MLP
    late_average the branches' probabilities averaged over the present modalities (no parameters)
    late_learned the design's "enhanced late fusion": one softmax-normalised weight per branch + 7 class
                 biases (10 parameters over three branches)
    mult         MulT cross-modal attention over per-modality sequences (models/mult.py)
    graph        message passing between modality nodes (models/graph.py)
    contrastive  projections pre-trained with cross-modal InfoNCE, then a classifier (models/contrastive.py)
    hierarchical a meta-fusion over the outputs of other trained strategies (models/hierarchical.py)
    h[m] may be a sequence (B, T, D_m): MulT reads it, the others its mean over time (models/tokens.py).
    ENSEMBLE     agf_logit trained with several seeds, their log-probabilities and weights averaged
                 (`members` > 1; assembled by fusion_recipe.assemble_ensemble, not trained as one model)
Weights of the variants without gates are their fixed mixing weights (uniform for early and late_average).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from agf_core.models.fusion import AdaptiveGatedFusion, FusionConfig, check_mask
from agf_core.labels import MODALITIES, NUM_EMOTIONS
from agf_core.models.metadata import MetadataConfig, MetadataEncoder
from agf_core.models.contrastive import ContrastiveFusion
from agf_core.models.graph import GraphFusion
from agf_core.models.hierarchical import HierarchicalFusion
from agf_core.models.mult import MulTFusion
from agf_core.models.tokens import pooled

VARIANTS = ("agf", "agf_logit", "agf_nometa", "agf_evidence", "early", "late_average", "late_learned", "mult", "graph",
            "contrastive")
COMPOSITE = ("hierarchical",)  # built over other trained strategies (VariantConfig.parts), not from its name alone
ALIASES = {"late": "late_learned", "adaptive": "agf"}   # the design's names for two of them


def ensemble_name(variant: str) -> str:
    return f"{variant}_ensemble"


ENSEMBLE = ensemble_name("agf_logit")   # the shipped fusion


@dataclass(frozen=True)
class VariantConfig:
    name: str = "agf_logit"
    dim: int = 256               # width of every branch embedding
    fusion: FusionConfig = FusionConfig(gate="logit", width=768, hidden=256)
    metadata: MetadataConfig = MetadataConfig()
    passthrough: bool = False    # one modality present -> that branch's log-probabilities as the logits
    gate_supervision: float = 0.0  # weight of the gate reliability loss (AGFModel.gate_loss); 0 = none
    members: int = 1             # > 1: an ensemble of that many copies trained with different seeds
    dims: tuple[int, ...] = ()   # each modality's input width in MODALITIES order; () = `dim` for all three
    width: int = 64              # mult, graph, contrastive: the common width of the modality tokens
    heads: int = 4               # mult: attention heads
    dropout: float = 0.2         # mult, graph, contrastive
    parts: tuple = ()            # hierarchical: the member strategies' VariantConfigs

    @property
    def input_dims(self) -> dict[str, int]:
        dims = self.dims or (self.dim,) * len(MODALITIES)
        if len(dims) != len(MODALITIES):
            raise ValueError(f"dims {dims} must give one width per modality ({', '.join(MODALITIES)})")
        return dict(zip(MODALITIES, dims))

    @classmethod
    def of(cls, name: str) -> "VariantConfig":
        """The study's configuration of a variant by name."""
        name = check_variant(name)
        fusion = {"agf": replace(cls.fusion, gate="sigmoid"),
                  "agf_nometa": replace(cls.fusion, meta_dim=0)}.get(name, cls.fusion)
        improved = name in ("agf_logit", "agf_evidence")
        return cls(name=name, fusion=fusion, passthrough=improved, gate_supervision=0.5 if improved else 0.0)


def family_config(name: str, dims: tuple[int, ...], parts: tuple = ()) -> VariantConfig:
    """The fusion family study's (small, CPU) configuration of a strategy over inputs of widths `dims`."""
    base = VariantConfig.of(name)
    fusion = replace(base.fusion, dims=dict(zip(MODALITIES, dims)), width=64, hidden=64)
    if name == "hierarchical" and len(parts) < 2:
        raise ValueError("hierarchical needs the configs of at least 2 trained member strategies (parts)")
    return replace(base, dims=tuple(dims), fusion=fusion, parts=tuple(parts))


def _uniform(mask: torch.Tensor) -> torch.Tensor:
    return mask.float() / mask.float().sum(-1, keepdim=True)                    # (B, M)


class AGFModel(nn.Module):
    """Metadata encoder + AdaptiveGatedFusion; accepts a user's gate and class biases (personalisation)."""

    def __init__(self, config: VariantConfig):
        super().__init__()
        self.config = config
        self.meta = MetadataEncoder(config.metadata) if config.fusion.meta_dim else None
        self.fusion = AdaptiveGatedFusion(config.fusion)

    def forward(self, h, logp, mask, meta, gate_bias=None, class_bias=None):
        m = self.meta(meta) if self.meta is not None else None                  # (B, 256) or None
        h = {k: pooled(v) for k, v in h.items()}                                # (B, D) each
        logits, a = self.fusion(h, mask, m, gate_bias)                          # (B, 7), (B, M)
        if self.config.passthrough:
            alone = mask.sum(-1) == 1                                           # (B,)
            branch = torch.stack([logp[k] for k in self.fusion.modalities], 1)  # (B, M, 7)
            own = (branch * mask[..., None]).sum(1)                             # (B, 7) the lone branch's
            logits = torch.where(alone[:, None], own, logits)
        return (logits if class_bias is None else logits + class_bias), a

    def gate_loss(self, h, logp, mask, meta, y):
        """Teach each gate whether its branch is right: binary cross-entropy between the gate logit z_i and
        [argmax p_i == y], over the present modalities. A modality that is useless here (the fixed RAVDESS
        sentences, noise, a blank face) is then down-weighted because it is unreliable, not only when the
        classifier happens to need it less."""
        m = self.meta(meta) if self.meta is not None else None
        z = self.fusion.gate_logits({k: pooled(v) for k, v in h.items()}, m)                                       # (B, M)
        right = torch.stack([logp[k].argmax(-1) == y for k in self.fusion.modalities], 1).float()  # (B, M)
        loss = nn.functional.binary_cross_entropy_with_logits(z, right, reduction="none")
        return (loss * mask).sum() / mask.sum()


class EvidenceGatedFusion(nn.Module):
    """Adaptive gated fusion over evidence:

        z_i = W_i [logp_i ; H(p_i) ; m] + b_i      one gate per modality, from its own reading and metadata
        a   = softmax(z / T) over the present modalities
        logits = s * sum_i a_i logp_i + c         s > 0 sharpens (s = M is a product of experts), c: 7 biases

    The classifier is (s, c): it can only re-weight and re-sharpen what the branches say, never invent a
    pattern of one corpus's embeddings. A lone modality passes through unchanged (its branch's own output).
    """

    def __init__(self, config: VariantConfig):
        super().__init__()
        self.config = config
        self.meta = MetadataEncoder(config.metadata) if config.fusion.meta_dim else None
        self.modalities = MODALITIES
        width = NUM_EMOTIONS + 1 + (config.metadata.out_dim if self.meta is not None else 0)
        self.gates = nn.ModuleDict({k: nn.Linear(width, 1) for k in MODALITIES})
        self.log_temperature = nn.Parameter(torch.zeros(()))
        self.log_sharpness = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(NUM_EMOTIONS))

    def gate_logits(self, logp: dict, meta: torch.Tensor) -> torch.Tensor:
        m = self.meta(meta) if self.meta is not None else None                  # (B, 256) or None
        cols = []
        for k in MODALITIES:
            entropy = -(logp[k].exp() * logp[k]).sum(-1, keepdim=True)           # (B, 1)
            x = torch.cat([logp[k], entropy] + ([m] if m is not None else []), -1)  # (B, 7 + 1 (+ 256))
            cols.append(self.gates[k](x))                                       # (B, 1)
        return torch.cat(cols, -1)                                              # (B, M)

    def forward(self, h, logp, mask, meta, gate_bias=None, class_bias=None):
        check_mask(mask)
        z = self.gate_logits(logp, meta)                                        # (B, M)
        if gate_bias is not None:
            z = z + gate_bias
        a = (z / self.log_temperature.exp()).masked_fill(~mask, float("-inf")).softmax(-1)  # (B, M)
        branch = torch.stack([logp[k] for k in MODALITIES], 1)                  # (B, M, 7)
        fused = (a[..., None] * branch.masked_fill(~mask[..., None], 0.0)).sum(1)  # (B, 7)
        logits = self.log_sharpness.exp() * fused + self.bias                   # (B, 7)
        alone = mask.sum(-1) == 1                                               # (B,)
        logits = torch.where(alone[:, None], fused, logits)
        return (logits if class_bias is None else logits + class_bias), a

    def gate_loss(self, h, logp, mask, meta, y):
        """As AGFModel.gate_loss: each gate learns whether its branch is right."""
        z = self.gate_logits(logp, meta)                                        # (B, M)
        right = torch.stack([logp[k].argmax(-1) == y for k in MODALITIES], 1).float()  # (B, M)
        loss = nn.functional.binary_cross_entropy_with_logits(z, right, reduction="none")
        return (loss * mask).sum() / mask.sum()


class EarlyFusion(nn.Module):
    """[h_text; h_audio; h_video; presence flags; m] -> MLP -> 7 (the audio-text model's concatenation)."""

    def __init__(self, config: VariantConfig, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        self.config = config
        self.meta = MetadataEncoder(config.metadata)
        width = sum(config.input_dims.values()) + len(MODALITIES) + config.metadata.out_dim
        self.mlp = nn.Sequential(nn.LayerNorm(width), nn.Dropout(dropout), nn.Linear(width, hidden), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, NUM_EMOTIONS))

    def forward(self, h, logp, mask, meta, gate_bias=None, class_bias=None):
        check_mask(mask)
        parts = [pooled(h[k]) * mask[:, i, None] for i, k in enumerate(MODALITIES)]  # 3 x (B, D_k), 0 if absent
        x = torch.cat([*parts, mask.float(), self.meta(meta)], -1)              # (B, sum D_k + 3 + 256)
        logits = self.mlp(x)
        return (logits if class_bias is None else logits + class_bias), _uniform(mask)


class LateFusion(nn.Module):
    """p = softmax(log(sum_i a_i p_i) + b), a = softmax(w) over the present branches.
    learned=False: w and b fixed at 0 (the plain average); learned=True: 3 weights + 7 biases."""

    def __init__(self, config: VariantConfig, learned: bool):
        super().__init__()
        self.config = config
        self.w = nn.Parameter(torch.zeros(len(MODALITIES)), requires_grad=learned)
        self.b = nn.Parameter(torch.zeros(NUM_EMOTIONS), requires_grad=learned)

    def forward(self, h, logp, mask, meta, gate_bias=None, class_bias=None):
        check_mask(mask)
        w = self.w if gate_bias is None else self.w + gate_bias
        a = w.expand(mask.shape).masked_fill(~mask, float("-inf")).softmax(-1)  # (B, M)
        branch = torch.stack([logp[k] for k in MODALITIES], 1).exp()            # (B, M, 7)
        logits = (a[..., None] * branch).sum(1).clamp_min(1e-8).log() + self.b  # (B, 7)
        return (logits if class_bias is None else logits + class_bias), a


class FusionEnsemble(nn.Module):
    """Fusion models of one variant trained with different seeds: the mean of their log-probabilities
    (B, 7) and of their weights (B, M). Averaging seeds lowers the variance of what one seed learnt, which
    shows most in calibration. A lone modality that every member passes through stays its branch's output."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        self.config = replace(members[0].config, members=len(members))
        self.members = nn.ModuleList(members)

    def forward(self, h, logp, mask, meta, gate_bias=None, class_bias=None):
        outs = [m(h, logp, mask, meta, gate_bias=gate_bias) for m in self.members]
        logits = torch.stack([z.log_softmax(-1) for z, _ in outs]).mean(0)     # (B, 7)
        a = torch.stack([w for _, w in outs]).mean(0)                           # (B, M)
        return (logits if class_bias is None else logits + class_bias), a


def check_variant(name: object, also: tuple[str, ...] = ()) -> str:
    """A variant name of the study (or one of `also`, e.g. "all" on the command line), aliases resolved."""
    name = ALIASES.get(name, name) if isinstance(name, str) else name
    if name not in VARIANTS + COMPOSITE and name not in also:
        accepted = ", ".join(also + VARIANTS + COMPOSITE) + " (" + ", ".join(f"{a} = {v}" for a, v in ALIASES.items()) + ")"
        raise ValueError(f"unknown fusion variant {name!r}; accepted: {accepted}")
    return name


def build(config: VariantConfig) -> nn.Module:
    if config.members > 1:
        return FusionEnsemble([build(replace(config, members=1)) for _ in range(config.members)])
    if config.name in ("agf", "agf_logit", "agf_nometa"):
        return AGFModel(config)
    if config.name == "agf_evidence":
        return EvidenceGatedFusion(config)
    if config.name == "early":
        return EarlyFusion(config)
    if config.name in ("late_average", "late_learned"):
        return LateFusion(config, learned=config.name == "late_learned")
    if config.name in FAMILY:
        return FAMILY[config.name](config)
    if config.name in COMPOSITE:
        return HierarchicalFusion(config, [build(p) for p in config.parts])
    check_variant(config.name)
    raise AssertionError(f"variant {config.name!r} is listed in VARIANTS but has no model")


FAMILY = {"mult": MulTFusion, "graph": GraphFusion, "contrastive": ContrastiveFusion}


def variant_config_from_dict(d: dict) -> VariantConfig:
    """Inverse of dataclasses.asdict for a checkpoint's config."""
    fusion = dict(d["fusion"])
    more = {k: d[k] for k in ("width", "heads", "dropout") if k in d}
    return VariantConfig(name=d["name"], dim=d["dim"], fusion=FusionConfig(**fusion),
                         metadata=MetadataConfig(**d["metadata"]), passthrough=d.get("passthrough", False),
                         gate_supervision=d.get("gate_supervision", 0.0), members=d.get("members", 1),
                         dims=tuple(d.get("dims", ())), parts=tuple(variant_config_from_dict(p) for p in d.get("parts", ())),
                         **more)


def from_checkpoint(ck: dict, variant: str | None = None, dims: tuple[int, ...] | None = None) -> nn.Module:
    """The fusion model of a loaded fusion checkpoint (checkpoint.load), weights in place, in eval mode.
    `variant` / `dims`: what the caller expects; a checkpoint of another strategy or over inputs of other
    widths is refused."""
    config = variant_config_from_dict(ck["config"])
    if variant is not None and config.name != check_variant(variant):
        raise ValueError(f"this fusion checkpoint holds variant {config.name!r}, not {variant!r}; "
                         f"pass --variant {config.name} or a checkpoint of {variant}")
    if dims is not None and tuple(config.input_dims.values()) != tuple(dims):
        raise ValueError(f"this {config.name} checkpoint reads inputs of widths {tuple(config.input_dims.values())} "
                         f"({', '.join(MODALITIES)}), the bed gives {tuple(dims)}: it was trained on another bed")
    model = build(config)
    model.load_state_dict(ck["state_dict"])
    return model.eval()


def variant_name(ck: dict) -> str:
    """The name a loaded fusion checkpoint goes by (its study variant, e.g. agf_logit_ensemble)."""
    return ck["meta"].get("variant", ck["config"]["name"])


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["VARIANTS", "ALIASES", "ENSEMBLE", "VariantConfig", "family_config", "AGFModel", "EvidenceGatedFusion", "EarlyFusion", "LateFusion", "FusionEnsemble", "build",
           "from_checkpoint", "variant_name", "ensemble_name", "variant_config_from_dict", "trainable_parameters"]
