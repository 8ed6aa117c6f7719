"""The one mechanism behind DGS, TPS and HNS: local, per-node searches over neuron variants.

A *site* is one neuron layer of a network (a node of a cell, a stem), named by its genotype key
(``"classify.cell2.node1"``) and found by its module name. :class:`NodeTable` holds the current
*centre* setting of every site (a :class:`search.neurons.NeuronConfig`) and rebuilds a site's neuron
when its centre changes. A :class:`LocalSearch` runs *rounds*; in a round, every eligible site gets
K candidate variants of its centre (``strategy.candidates``), mixed with ``softmax(a_site)``; the
logits ``a`` start equal, take one Adam step (lr 0.01) per held-out batch, ``softmax(a)`` is
accumulated over the round's batches, and the candidate with the largest accumulated weight becomes
the site's new centre. Two ways of mixing the candidates exist:

- ``"output"`` (TPS, HNS): the site's neuron is replaced, for the round, by a :class:`MixedNeuron`
  whose output is ``sum_k softmax(a)_k * neuron_k(I)`` for the same input current ``I``; the
  held-out task loss (plus ``strategy.penalty``, e.g. an energy budget) is differentiable in ``a``.
- ``"lookahead"`` (DGS): the candidates differ only in their surrogate gradient, so mixing them
  in the forward pass is the same Heaviside for every ``a`` and ``d loss / d a = 0``. As the authors
  do (Huawei-BIC/SpikeDHS ``train.py``: a copy of the weights per candidate, one SGD step each with
  its own surrogate, copies mixed at the membrane by ``softmax(alpha_diffb)``), each candidate ``k``
  of site ``s`` takes one weight step ``theta_k = theta - eta * g_{s,k}`` on a training batch with
  the site's surrogate temperature set to ``b_k`` (all other sites at their centre). Mixing the
  copies' membrane currents is, for a convolution (linear in its weights), mixing their weights:
  ``theta(a) = theta - eta * sum_k softmax(a)_k g_{s,k}``. The held-out loss of ``theta(a)`` is
  taken to first order, ``L_ho(theta) - eta * sum_k softmax(a)_k <h, g_{s,k}>`` with
  ``h = grad L_ho(theta)``: this is the loss ``a`` is trained on. Its gradient prefers the
  candidate whose step lowers the held-out loss fastest. Only the part of ``g_{s,k}`` that depends on
  ``b_k`` (the weights upstream of the site) matters, because softmax gradients cancel common parts.

Rounds never change the weights; the model's train/eval mode is left as it is (train mode: batch
norm uses and updates batch statistics, as in the authors' code).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based.model.spike_dhs import DSpike
from torch import nn

from search.genotype import NUM_NODES, NodeSetting, node_key
from search.neurons import MixedDSpike, NeuronConfig, make_neuron, reset_states
from search.supernet import is_arch_parameter

MIX_MODES = ("output", "lookahead")
LossFn = Callable[[nn.Module, Any], torch.Tensor]


# --------------------------------------------------------------------------- neurons and sites


def config_of(module: nn.Module) -> NeuronConfig:
    """The :class:`NeuronConfig` a neuron module was built with (inverse of ``make_neuron``).

    LIF: ``decay = 1 - 1 / tau``; PLIF: ``decay = 1 - sigmoid(w)`` (its current learned value);
    the temperature b is the Dspike ``alpha`` or, for a :class:`MixedDSpike`, the mean of its
    temperatures; ``nn.ReLU`` is ``kind="ann"`` with default decay and b.

    Raises:
        ValueError: ``module`` is not a neuron this project builds.
    """
    if isinstance(module, nn.ReLU):
        return NeuronConfig(kind="ann")
    surrogate = getattr(module, "surrogate_function", None)
    if isinstance(surrogate, MixedDSpike):
        b = float(surrogate.bs.mean())
    elif isinstance(surrogate, DSpike):
        b = float(surrogate.alpha)
    else:
        raise ValueError(f"{type(module).__name__} has no Dspike surrogate; cannot read its settings")
    v_th = float(module.v_threshold)
    if isinstance(module, sj_neuron.ParametricLIFNode):
        decay = 1.0 - float(torch.sigmoid(module.w.detach()))
        return NeuronConfig(kind="plif", decay=min(max(decay, 0.0), 0.999), v_threshold=v_th, surrogate_b=b)
    if isinstance(module, sj_neuron.LIFNode):
        decay = 1.0 - 1.0 / float(module.tau)
        return NeuronConfig(kind="lif", decay=round(max(decay, 0.0), 6), v_threshold=v_th, surrogate_b=b)
    if isinstance(module, sj_neuron.IFNode):
        return NeuronConfig(kind="if", v_threshold=v_th, surrogate_b=b)
    raise ValueError(f"{type(module).__name__} is not a neuron kind of search.neurons")


def add_new_parameters(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> int:
    """Add the model's parameters the optimizer does not hold yet (neurons rebuilt by a local search,
    e.g. the learned tau of a PLIF that TPS chose) as one group at the current learning rate, with
    the optimizer's other defaults (momentum, weight decay); returns how many were added."""
    known = {id(p) for group in optimizer.param_groups for p in group["params"]}
    new = [p for p in model.parameters() if p.requires_grad and id(p) not in known]
    if new:
        first = optimizer.param_groups[0]
        optimizer.add_param_group({"params": new, "lr": first["lr"],
                                   "initial_lr": first.get("initial_lr", first["lr"])})
    return len(new)


def get_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (dotted); KeyError names it."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise KeyError(f"the network has no module {name!r}") from None


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule called ``name`` (works inside ``ModuleList``/``ModuleDict``)."""
    parent_name, _, child = name.rpartition(".")
    parent = get_module(model, parent_name) if parent_name else model
    if isinstance(parent, nn.ModuleList | nn.Sequential):
        parent[int(child)] = module
    elif isinstance(parent, nn.ModuleDict):
        parent[child] = module
    else:
        setattr(parent, child, module)


def _shifted(bs: Sequence[float], b: float) -> list[float]:
    """Temperatures ``bs`` shifted so that their mean is ``b`` (each kept > 0)."""
    shift = b - sum(bs) / len(bs)
    return [max(x + shift, 0.05) for x in bs]


def build_neuron(config: NeuronConfig, *, mixed_bs: Sequence[float] | None = None) -> nn.Module:
    """A neuron for ``config``; with ``mixed_bs`` (a search-cell node) its surrogate is a
    :class:`MixedDSpike` over ``mixed_bs`` shifted to mean ``config.surrogate_b``."""
    if mixed_bs is None or config.kind == "ann":
        return make_neuron(config)
    return make_neuron(config, surrogate=MixedDSpike(_shifted(mixed_bs, config.surrogate_b)))


def set_surrogate_temperature(module: nn.Module, b: float, *, mixed_bs: Sequence[float] | None = None) -> None:
    """Set a spiking neuron's Dspike temperature in place (a MixedDSpike is shifted to mean ``b``)."""
    surrogate = getattr(module, "surrogate_function", None)
    if isinstance(surrogate, MixedDSpike):
        base = list(mixed_bs) if mixed_bs is not None else surrogate.bs.tolist()
        surrogate.bs = torch.tensor(_shifted(base, b), device=surrogate.bs.device)
    elif isinstance(surrogate, DSpike):
        surrogate.alpha = float(b)
    else:
        raise ValueError(f"{type(module).__name__} has no Dspike surrogate to set b on")


def path_net_sites(net_name: str, module_name: str, num_cells: int) -> dict[str, str]:
    """Sites of a :class:`search.derived.PathNet` at ``module_name``: key -> module name.

    Example:
        >>> path_net_sites("classify", "body", 1)
        {'classify.cell0.node0': 'body.cells.0.nodes.0', 'classify.cell0.node1': 'body.cells.0.nodes.1', \
'classify.cell0.node2': 'body.cells.0.nodes.2'}
    """
    return {
        node_key(net_name, i, j): f"{module_name}.cells.{i}.nodes.{j}"
        for i in range(num_cells)
        for j in range(NUM_NODES)
    }


def trellis_sites(module_name: str, trellis: nn.Module) -> dict[str, str]:
    """Sites of every search-cell node of a :class:`search.trellis.SearchTrellis` (membrane mixing).

    Keys are the module names themselves (``"trellis.cells.l0_k0_from0.nodes.1"``); the genotype
    keys are known only once the path is decoded (:func:`trellis_node_settings`).
    """
    return {
        f"{module_name}.cells.{cell}.nodes.{j}": f"{module_name}.cells.{cell}.nodes.{j}"
        for cell in trellis.cells
        for j in range(NUM_NODES)
    }


# --------------------------------------------------------------------------- the node table


@dataclass
class NodeTable:
    """Current centre setting of every site of a network, and the record of their changes.

    Attributes:
        model: the network (its neurons are replaced in place when a centre changes).
        sites: site key -> module name.
        configs: site key -> current centre (an ANN site keeps the decay and b it had as a spiking
            neuron, so a later search can turn it back).
        mixed_bs: site key -> the base temperatures of a search-cell node's MixedDSpike (None for
            an ordinary Dspike neuron).
        initial: the centres at construction.
        history: one ``(tag, {key: config})`` snapshot per finished round (``tag`` e.g. ``"epoch 4"``).
    """

    model: nn.Module
    sites: dict[str, str]
    configs: dict[str, NeuronConfig] = field(default_factory=dict)
    mixed_bs: dict[str, tuple[float, ...] | None] = field(default_factory=dict)
    initial: dict[str, NeuronConfig] = field(default_factory=dict)
    history: list[tuple[str, dict[str, NeuronConfig]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.sites:
            raise ValueError("a local search needs at least one site (neuron layer)")
        for key, name in self.sites.items():
            module = get_module(self.model, name)
            if key not in self.configs:
                self.configs[key] = config_of(module)
            surrogate = getattr(module, "surrogate_function", None)
            self.mixed_bs.setdefault(
                key, tuple(surrogate.bs.tolist()) if isinstance(surrogate, MixedDSpike) else None
            )
        self.initial = dict(self.configs)

    def neuron(self, key: str) -> nn.Module:
        return get_module(self.model, self.sites[key])

    def device(self) -> torch.device:
        param = next(iter(self.model.parameters()), None)
        return param.device if param is not None else torch.device("cpu")

    def build(self, key: str, config: NeuronConfig) -> nn.Module:
        """A fresh neuron of ``config`` for site ``key`` (on the model's device)."""
        return build_neuron(config, mixed_bs=self.mixed_bs[key]).to(self.device())

    def set(self, key: str, config: NeuronConfig) -> None:
        """Make ``config`` the centre of ``key``; the neuron is rebuilt only if it changed."""
        if config != self.configs[key]:
            self.configs[key] = config
            set_module(self.model, self.sites[key], self.build(key, config))

    def snapshot(self, tag: str) -> None:
        self.history.append((tag, dict(self.configs)))

    def node_settings(self, keys: Iterable[str] | None = None) -> dict[str, NodeSetting]:
        """Genotype node settings of the sites (all, or ``keys``)."""
        keys = list(self.configs) if keys is None else list(keys)
        return {
            k: NodeSetting(kind=self.configs[k].kind, decay=self.configs[k].decay,
                           surrogate_b=round(self.configs[k].surrogate_b, 6))
            for k in keys
        }


def trellis_node_settings(table: NodeTable, *, module_name: str, net_name: str,
                          path: Sequence[int], derived_b: Sequence[Sequence[float]]) -> dict[str, NodeSetting]:
    """Genotype settings of the derived cells from the search cells on a decoded path.

    Layer ``i`` of the path uses the search cell ``l{i}_k{path[i]}_from{path[i-1]}`` (the stem,
    level 0, before layer 0). A DGS shift of a search node's temperature is added to the derived
    node's own temperature ``derived_b[i][j]`` (the mean of its two chosen operations' b).

    Args:
        table: node table over :func:`trellis_sites`.
        module_name: the trellis module name used for the sites.
        net_name: genotype net name (``"classify"``).
        path: decoded levels, one per layer.
        derived_b: per layer, per node, the derived temperature rule (``search.cell.node_neuron_configs``).
    """
    settings = {}
    for i, level in enumerate(path):
        source = path[i - 1] if i > 0 else 0
        for j in range(NUM_NODES):
            site = f"{module_name}.cells.l{i}_k{level}_from{source}.nodes.{j}"
            config, start = table.configs[site], table.initial[site]
            shift = config.surrogate_b - start.surrogate_b
            b = None if abs(shift) < 1e-9 else round(max(derived_b[i][j] + shift, 0.05), 6)
            settings[node_key(net_name, i, j)] = NodeSetting(kind=config.kind, decay=config.decay, surrogate_b=b)
    return settings


# --------------------------------------------------------------------------- output mixing


class _FanoutSurrogate(MixedDSpike):
    """Forwards ``set_weights`` (called by a search cell on its node neuron) to every candidate."""

    def __init__(self, targets: Sequence[MixedDSpike]) -> None:
        super().__init__([1.0])
        object.__setattr__(self, "_targets", list(targets))

    def set_weights(self, weights: torch.Tensor | None) -> None:
        for target in self._targets:
            target.set_weights(weights)


class MixedNeuron(nn.Module):
    """K candidate neurons on the same input current, outputs mixed by ``softmax(logits)``.

    ``y = sum_k softmax(logits)_k * neuron_k(I)``; with ``force = k`` only candidate ``k`` runs
    (used to measure each candidate's energy).

    Args:
        candidates: neuron modules ``[T, N, *] -> [T, N, *]``.

    Shape:
        ``[T, N, *] -> [T, N, *]``.
    """

    def __init__(self, candidates: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(candidates) < 1:
            raise ValueError("MixedNeuron needs at least one candidate")
        self.candidates = nn.ModuleList(candidates)
        self.logits = nn.Parameter(torch.zeros(len(candidates)))
        self.force: int | None = None
        surrogates = [getattr(c, "surrogate_function", None) for c in candidates]
        mixed = [s for s in surrogates if isinstance(s, MixedDSpike)]
        object.__setattr__(self, "_fanout", _FanoutSurrogate(mixed) if mixed else None)

    @property
    def surrogate_function(self) -> MixedDSpike | None:
        return self._fanout

    def weights(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.force is not None:
            return self.candidates[self.force](x)
        w = self.weights()
        return sum(w[k] * neuron(x) for k, neuron in enumerate(self.candidates))


# --------------------------------------------------------------------------- the search


class Strategy(Protocol):
    """What distinguishes DGS, TPS and HNS (see ``search.dgs``, ``search.tps``, ``search.hns``)."""

    name: str
    mix: str  # "output" or "lookahead"

    def candidates(self, centre: NeuronConfig) -> tuple[NeuronConfig, ...]:
        """Candidate settings of a site around its centre (empty: the site is not searched)."""
        ...

    def penalty(self, search: LocalSearch, mixers: Mapping[str, MixedNeuron]) -> torch.Tensor | None:
        """Extra term of the held-out loss (differentiable in the mixers' logits), or None."""
        ...

    def winner(self, centre: NeuronConfig, candidate: NeuronConfig) -> NeuronConfig:
        """The new centre when ``candidate`` wins (e.g. DGS clips b)."""
        ...


@dataclass(frozen=True)
class LocalSearchConfig:
    """Cadence and optimiser of the rounds (DESIGN.md section 4; authors: every 5 epochs, ~200 batches).

    Attributes:
        every_epochs: a round runs after every ``every_epochs``-th epoch (epochs 5, 10, ... for 5).
        batches: held-out batches per round.
        lr: Adam learning rate of the logits ``a``.
        betas: Adam betas.
        lookahead_lr: ``eta`` of the candidates' one weight step (lookahead mixing).
        sites_per_batch: lookahead mixing evaluates this many sites per batch, in turn (0 = all;
            each evaluated site costs ``K - 1`` extra forward/backward passes).
    """

    every_epochs: int = 5
    batches: int = 200
    lr: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    lookahead_lr: float = 0.1
    sites_per_batch: int = 0

    def __post_init__(self) -> None:
        if self.every_epochs < 1 or self.batches < 1:
            raise ValueError(f"local search needs every_epochs >= 1 and batches >= 1, got "
                             f"{self.every_epochs} and {self.batches}")
        if self.lr <= 0 or self.lookahead_lr <= 0:
            raise ValueError("local search learning rates must be > 0")

    def due(self, epoch: int) -> bool:
        """Whether a round follows epoch ``epoch`` (0-based)."""
        return (epoch + 1) % self.every_epochs == 0


@dataclass
class RoundResult:
    """Outcome of one round: per site, the candidates, their accumulated softmax and the winner."""

    candidates: dict[str, tuple[NeuronConfig, ...]]
    accumulated: dict[str, list[float]]
    winners: dict[str, NeuronConfig]
    batches: int


class LocalSearch:
    """Rounds of one strategy over the sites of a :class:`NodeTable`.

    Args:
        table: the sites and their centres (shared by DGS, TPS and HNS on one network).
        strategy: the candidates, the mixing and the extra loss term.
        config: cadence and optimiser.
        parameters: weights the lookahead steps (default: every parameter not named ``arch_*``).
    """

    def __init__(self, table: NodeTable, strategy: Strategy, config: LocalSearchConfig | None = None, *,
                 parameters: Sequence[nn.Parameter] | None = None) -> None:
        if strategy.mix not in MIX_MODES:
            raise ValueError(f"unknown mixing {strategy.mix!r}; known: {', '.join(MIX_MODES)}")
        self.table, self.strategy = table, strategy
        self.config = config or LocalSearchConfig()
        self._parameters = parameters
        self.rounds: list[RoundResult] = []

    @property
    def model(self) -> nn.Module:
        return self.table.model

    def weight_parameters(self) -> list[nn.Parameter]:
        if self._parameters is not None:
            return list(self._parameters)
        return [p for n, p in self.model.named_parameters() if p.requires_grad and not is_arch_parameter(n)]

    def _searched(self) -> dict[str, tuple[NeuronConfig, ...]]:
        out = {}
        for key, centre in self.table.configs.items():
            candidates = tuple(self.strategy.candidates(centre))
            if len(candidates) > 1:
                out[key] = candidates
        return out

    def run_round(self, loss_fn: LossFn, batches: Iterable[tuple[Any, Any]], *, tag: str = "") -> RoundResult:
        """Run one round and move every searched site to its winner.

        Args:
            loss_fn: ``loss_fn(model, batch)`` -> scalar task loss (the network is reset by its own
                forward, or here before each call).
            batches: ``(train_batch, heldout_batch)`` pairs; at most ``config.batches`` are used.
                Output mixing uses only the held-out batch; lookahead uses both.
            tag: label of the snapshot in ``table.history``.
        """
        candidates = self._searched()
        if not candidates:
            result = RoundResult({}, {}, {}, 0)
            self.rounds.append(result)
            return result
        if self.strategy.mix == "output":
            accumulated, used = self._output_round(loss_fn, batches, candidates)
        else:
            accumulated, used = self._lookahead_round(loss_fn, batches, candidates)
        winners = {}
        for key, sums in accumulated.items():
            best = max(range(len(sums)), key=lambda k: (sums[k], -k))
            winners[key] = self.strategy.winner(self.table.configs[key], candidates[key][best])
            self.table.set(key, winners[key])
        self.table.snapshot(tag or f"{self.strategy.name} round {len(self.rounds) + 1}")
        result = RoundResult(candidates, accumulated, winners, used)
        self.rounds.append(result)
        return result

    # ----------------------------------------------------------------- output mixing (TPS, HNS)

    def install_mixers(self, candidates: Mapping[str, tuple[NeuronConfig, ...]]) -> dict[str, MixedNeuron]:
        """Replace each searched site's neuron by a :class:`MixedNeuron` of its candidates."""
        mixers = {}
        for key, configs in candidates.items():
            mixer = MixedNeuron([self.table.build(key, c) for c in configs]).to(self.table.device())
            set_module(self.model, self.table.sites[key], mixer)
            mixers[key] = mixer
        return mixers

    def remove_mixers(self, mixers: Mapping[str, MixedNeuron]) -> None:
        """Put the centre neurons back (the winners are installed by :meth:`run_round`)."""
        for key in mixers:
            set_module(self.model, self.table.sites[key], self.table.build(key, self.table.configs[key]))

    def _output_round(self, loss_fn: LossFn, batches: Iterable[tuple[Any, Any]],
                      candidates: Mapping[str, tuple[NeuronConfig, ...]]) -> tuple[dict[str, list[float]], int]:
        mixers = self.install_mixers(candidates)
        try:
            logits = [m.logits for m in mixers.values()]
            optimizer = torch.optim.Adam(logits, lr=self.config.lr, betas=self.config.betas)
            accumulated = {key: [0.0] * len(c) for key, c in candidates.items()}
            used = 0
            for used, (_, heldout) in enumerate(batches, start=1):
                optimizer.zero_grad(set_to_none=True)
                reset_states(self.model)
                loss = loss_fn(self.model, heldout)
                extra = self.strategy.penalty(self, mixers)
                if extra is not None:
                    loss = loss + extra
                grads = torch.autograd.grad(loss, logits, allow_unused=True)
                for p, g in zip(logits, grads, strict=True):
                    p.grad = torch.zeros_like(p) if g is None else g
                optimizer.step()
                for key, mixer in mixers.items():
                    for k, w in enumerate(mixer.weights().detach().tolist()):
                        accumulated[key][k] += w
                if used >= self.config.batches:
                    break
        finally:
            self.remove_mixers(mixers)
        return accumulated, used

    # ----------------------------------------------------------------- lookahead mixing (DGS)

    def _grad_dot(self, loss_fn: LossFn, batch: Any, params: list[nn.Parameter], h: list[torch.Tensor]) -> float:
        reset_states(self.model)
        loss = loss_fn(self.model, batch)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return float(sum((g * hh).sum() for g, hh in zip(grads, h, strict=True) if g is not None))

    def _lookahead_round(self, loss_fn: LossFn, batches: Iterable[tuple[Any, Any]],
                         candidates: Mapping[str, tuple[NeuronConfig, ...]]) -> tuple[dict[str, list[float]], int]:
        params = self.weight_parameters()
        logits = {key: torch.zeros(len(c), requires_grad=True) for key, c in candidates.items()}
        optimizer = torch.optim.Adam(list(logits.values()), lr=self.config.lr, betas=self.config.betas)
        accumulated = {key: [0.0] * len(c) for key, c in candidates.items()}
        eta = self.config.lookahead_lr
        used = 0
        keys = list(candidates)
        per_batch = self.config.sites_per_batch or len(keys)
        try:
            for used, (train, heldout) in enumerate(batches, start=1):
                start = ((used - 1) * per_batch) % len(keys)
                turn = [keys[(start + i) % len(keys)] for i in range(min(per_batch, len(keys)))]
                reset_states(self.model)
                h_loss = loss_fn(self.model, heldout)
                h = [g if g is not None else torch.zeros_like(p)
                     for g, p in zip(torch.autograd.grad(h_loss, params, allow_unused=True), params, strict=True)]
                centre_dot: float | None = None
                optimizer.zero_grad(set_to_none=True)
                for key in turn:
                    configs, centre = candidates[key], self.table.configs[key]
                    module = self.table.neuron(key)
                    dots = []
                    for config in configs:
                        if config.surrogate_b == centre.surrogate_b and centre_dot is not None:
                            dots.append(centre_dot)  # every site's centre candidate is the same step
                            continue
                        set_surrogate_temperature(module, config.surrogate_b, mixed_bs=self.table.mixed_bs[key])
                        dot = self._grad_dot(loss_fn, train, params, h)
                        if config.surrogate_b == centre.surrogate_b:
                            centre_dot = dot
                        dots.append(dot)
                    set_surrogate_temperature(module, centre.surrogate_b, mixed_bs=self.table.mixed_bs[key])
                    # First-order held-out loss of the softmax(a)-mixed one-step candidates (minus L_ho).
                    predicted = -eta * (torch.softmax(logits[key], 0) * torch.tensor(dots)).sum()
                    predicted.backward()
                optimizer.step()
                for key in turn:
                    for k, w in enumerate(torch.softmax(logits[key].detach(), 0).tolist()):
                        accumulated[key][k] += w
                if used >= self.config.batches:
                    break
        finally:
            for key in candidates:
                set_surrogate_temperature(self.table.neuron(key), self.table.configs[key].surrogate_b,
                                          mixed_bs=self.table.mixed_bs[key])
        return accumulated, used


# --------------------------------------------------------------------------- schedules


@dataclass
class LocalSearches:
    """DGS, TPS and HNS (any subset) on one network, run in that order HNS, TPS, DGS per round.

    Attributes:
        table: the shared node table.
        searches: the configured searches.
    """

    table: NodeTable
    searches: list[LocalSearch] = field(default_factory=list)

    def due(self, epoch: int) -> list[LocalSearch]:
        return [s for s in self.searches if s.config.due(epoch)]

    def after_epoch(self, epoch: int, loss_fn: LossFn, make_batches: Callable[[int], Iterable[tuple[Any, Any]]]
                    ) -> dict[str, float]:
        """Run the rounds due after ``epoch``; returns log metrics (winners' mean b/decay, ANN count).

        Args:
            make_batches: ``make_batches(n)`` -> an iterable of at most ``n`` ``(train, heldout)`` pairs.
        """
        order = {"hns": 0, "tps": 1, "dgs": 2}
        for search in sorted(self.due(epoch), key=lambda s: order.get(s.strategy.name, 3)):
            search.run_round(loss_fn, make_batches(search.config.batches), tag=f"epoch {epoch}")
        return self.summary() if self.due(epoch) else {}

    def summary(self) -> dict[str, float]:
        configs = list(self.table.configs.values())
        spiking = [c for c in configs if c.kind != "ann"]
        return {
            "local_mean_b": sum(c.surrogate_b for c in spiking) / max(len(spiking), 1),
            "local_mean_decay": sum(c.decay for c in spiking) / max(len(spiking), 1),
            "local_ann_nodes": float(len(configs) - len(spiking)),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record: sites, initial and current centres, and the history of rounds."""
        def plain(configs: Mapping[str, NeuronConfig]) -> dict[str, dict[str, Any]]:
            return {k: {"kind": c.kind, "decay": c.decay, "surrogate_b": c.surrogate_b} for k, c in configs.items()}

        return {
            "sites": dict(self.table.sites),
            "searches": [s.strategy.name for s in self.searches],
            "initial": plain(self.table.initial),
            "current": plain(self.table.configs),
            "history": [{"tag": tag, "nodes": plain(configs)} for tag, configs in self.table.history],
        }


def replace_config(config: NeuronConfig, **changes: Any) -> NeuronConfig:
    """``dataclasses.replace`` for neuron configs (kept here so strategies import one module)."""
    return replace(config, **changes)


def site_sort_key(key: str) -> tuple:
    """Order keys as in the network: stem first, then cell index, then node index."""
    numbers = [int(n) for n in re.findall(r"\d+", key)]
    return (0 if key.endswith("stem") else 1, numbers, key)
