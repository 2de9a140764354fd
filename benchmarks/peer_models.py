"""The benchmark networks written in spikeforge, snnTorch, SpikingJelly and Norse.

Every library is configured to spikeforge's neuron semantics (docs/conventions.md):
``U[t] = 0.9 U[t-1] + I[t]``, spike when ``U >= 1`` (snnTorch and Norse test ``U > 1``,
which differs only when ``U`` equals the threshold exactly), subtract reset in the same
step, input not scaled by ``1 - beta``:

- snnTorch: ``Leaky(beta=0.9, reset_mechanism="subtract", reset_delay=False)``, fast
  sigmoid surrogate (slope 25), reset detached (its default);
- SpikingJelly: multi-step ``LIFNode(tau=10, decay_input=False, v_reset=None,
  detach_reset=True, backend="torch")`` (``V - V/tau + X``), ATan surrogate (it has no
  fast sigmoid of the same shape), ``layer.*`` containers in multi-step mode;
- Norse: ``LIFBoxCell`` with ``dt * tau_mem_inv = 0.1`` (decay 0.9), ``reset_subtract``,
  SuperSpike surrogate (= fast sigmoid, alpha 25); Norse scales the input by 0.1, so its
  synaptic weights are the shared weights times 10 (same membrane up to rounding);
- spikeforge: ``LIF(0.9)`` with the default fast sigmoid (25) and fused kernels.

Each runner's idiomatic loop is used: snnTorch and Norse step through time in Python and,
for direct input, apply every layer to the same image at each step; SpikingJelly repeats
the image ``T`` times (``x.unsqueeze(0).repeat(T, ...)``); spikeforge passes the image
once with ``num_steps=T``. All start from the same weights (:func:`shared_weights`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

NETWORKS = ("fc", "conv")
LIBRARIES = ("spikeforge", "snntorch", "spikingjelly", "norse")
BETA, THRESHOLD = 0.9, 1.0


def shared_weights(net: str, seed: int = 0) -> list[tuple[Tensor, Tensor]]:
    """``(weight, bias)`` of each linear/conv layer of ``net``, drawn from ``seed``.

    Uniform in ``+-2.5/sqrt(fan_in)`` so that every layer spikes at a moderate rate.
    """
    shapes = {
        "fc": [(1000, 784), (10, 1000)],
        "conv": [(12, 1, 5, 5), (64, 12, 5, 5), (10, 1024)],
    }[net]
    gen = torch.Generator().manual_seed(seed)
    out = []
    for shape in shapes:
        fan_in = int(torch.tensor(shape[1:]).prod())
        bound = 2.5 / fan_in**0.5
        w = (torch.rand(shape, generator=gen) * 2 - 1) * bound
        b = (torch.rand(shape[0], generator=gen) * 2 - 1) * bound
        out.append((w, b))
    return out


def torch_layers(net: str, scale: float = 1.0) -> list[nn.Module]:
    """Plain torch linear/conv layers of ``net`` loaded with ``scale`` x the shared weights."""
    if net == "fc":
        mods: list[nn.Module] = [nn.Linear(784, 1000), nn.Linear(1000, 10)]
    else:
        mods = [nn.Conv2d(1, 12, 5), nn.Conv2d(12, 64, 5), nn.Linear(1024, 10)]
    with torch.no_grad():
        for m, (w, b) in zip(mods, shared_weights(net), strict=True):
            m.weight.copy_(w * scale)
            m.bias.copy_(b * scale)
    return mods


#: A runner maps (data, num_steps, direct) to the output spikes [T, B, 10].
Runner = Callable[[Tensor, int, bool], Tensor]


def _per_step_runner(
    net: str, layers: list[nn.Module], neurons: list[nn.Module], init: Callable[[int], object]
) -> Runner:
    """The per-step Python loop of snnTorch and Norse: every layer at every step.

    ``neurons[i](current, state) -> (spikes, state)``; ``init(i)`` is layer ``i``'s first state.
    """
    pool = nn.MaxPool2d(2)

    def run(data: Tensor, num_steps: int, direct: bool) -> Tensor:
        states = [init(i) for i in range(len(layers))]
        out = []
        for t in range(num_steps):
            h = data if direct else data[t]
            for i, (layer, neuron) in enumerate(zip(layers, neurons, strict=True)):
                if (net == "fc" and i == 0) or (net == "conv" and i == 2):
                    h = h.flatten(1)
                h = layer(h)
                if net == "conv" and i < 2:
                    h = pool(h)
                h, states[i] = neuron(h, states[i])
            out.append(h)
        return torch.stack(out)

    return run


def build_spikeforge(net: str) -> tuple[nn.Module, Runner]:
    from spikeforge.layers import Conv2d, Flatten, Linear, MaxPool2d
    from spikeforge.network import Sequential
    from spikeforge.neurons import LIF

    mods = torch_layers(net)
    if net == "fc":
        model = Sequential(Flatten(), Linear(784, 1000), LIF(BETA), Linear(1000, 10), LIF(BETA))
        targets = [model[1], model[3]]
    else:
        model = Sequential(
            Conv2d(1, 12, 5),
            MaxPool2d(2),
            LIF(BETA),
            Conv2d(12, 64, 5),
            MaxPool2d(2),
            LIF(BETA),
            Flatten(),
            Linear(1024, 10),
            LIF(BETA),
        )
        targets = [model[0], model[3], model[7]]
    for dst, src in zip(targets, mods, strict=True):
        dst.load_state_dict(src.state_dict())

    def run(data: Tensor, num_steps: int, direct: bool) -> Tensor:
        return model(data, num_steps=num_steps)[0] if direct else model(data)[0]

    return model, run


def build_snntorch(net: str) -> tuple[nn.Module, Runner]:
    import snntorch as snn
    from snntorch import surrogate

    def leaky() -> nn.Module:
        return snn.Leaky(
            beta=BETA,
            threshold=THRESHOLD,
            spike_grad=surrogate.fast_sigmoid(slope=25),
            reset_mechanism="subtract",
            reset_delay=False,
        )

    mods = torch_layers(net)
    neurons = [leaky() for _ in mods]
    model = nn.ModuleList([*mods, *neurons])
    run = _per_step_runner(net, mods, neurons, lambda i: neurons[i].init_leaky())
    return model, run


def build_spikingjelly(net: str) -> tuple[nn.Module, Runner]:
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    def lif() -> nn.Module:
        return neuron.LIFNode(
            tau=1.0 / (1.0 - BETA),
            decay_input=False,
            v_threshold=THRESHOLD,
            v_reset=None,
            surrogate_function=surrogate.ATan(),
            detach_reset=True,
            step_mode="m",
        )

    mods = torch_layers(net)
    if net == "fc":
        model = nn.Sequential(
            layer.Flatten(step_mode="m"),
            layer.Linear(784, 1000, step_mode="m"),
            lif(),
            layer.Linear(1000, 10, step_mode="m"),
            lif(),
        )
        targets = [model[1], model[3]]
    else:
        model = nn.Sequential(
            layer.Conv2d(1, 12, 5, step_mode="m"),
            layer.MaxPool2d(2, step_mode="m"),
            lif(),
            layer.Conv2d(12, 64, 5, step_mode="m"),
            layer.MaxPool2d(2, step_mode="m"),
            lif(),
            layer.Flatten(step_mode="m"),
            layer.Linear(1024, 10, step_mode="m"),
            lif(),
        )
        targets = [model[0], model[3], model[7]]
    for dst, src in zip(targets, mods, strict=True):
        dst.load_state_dict(src.state_dict())

    def run(data: Tensor, num_steps: int, direct: bool) -> Tensor:
        x = data.unsqueeze(0).repeat(num_steps, *([1] * data.dim())) if direct else data
        out = model(x)
        functional.reset_net(model)
        return out

    return model, run


def build_norse(net: str) -> tuple[nn.Module, Runner]:
    from norse.torch import LIFBoxCell, LIFBoxParameters
    from norse.torch.functional.reset import reset_subtract

    dt = 1e-3
    params = LIFBoxParameters(
        tau_mem_inv=torch.tensor((1.0 - BETA) / dt),
        v_th=torch.tensor(THRESHOLD),
        v_reset=torch.tensor(0.0),
        method="super",
        alpha=torch.tensor(25.0),
        reset_method=reset_subtract,
    )
    mods = torch_layers(net, scale=1.0 / (1.0 - BETA))  # Norse scales the input by 1 - beta
    neurons = [LIFBoxCell(params, dt=dt) for _ in mods]
    model = nn.ModuleList([*mods, *neurons])
    run = _per_step_runner(net, mods, neurons, lambda i: None)
    return model, run


BUILDERS: dict[str, Callable[[str], tuple[nn.Module, Runner]]] = {
    "spikeforge": build_spikeforge,
    "snntorch": build_snntorch,
    "spikingjelly": build_spikingjelly,
    "norse": build_norse,
}


def model_flops(net: str, num_steps: int, batch: int, *, static_first: bool) -> float:
    """Multiply-add FLOPs of one training step (forward and backward of the weight layers).

    Each layer costs ``2 * rows * work`` forward, the same again for the weight gradient,
    and again for the input gradient except for the first layer (its input is data).
    ``static_first``: the first layer runs once on ``batch`` rows (spikeforge, direct input).
    """
    per_sample = {
        "fc": [784 * 1000, 1000 * 10],
        "conv": [24 * 24 * 12 * 25, 8 * 8 * 64 * 12 * 25, 1024 * 10],
    }[net]
    total = 0.0
    for i, work in enumerate(per_sample):
        rows = batch if (i == 0 and static_first) else num_steps * batch
        passes = 2 if i == 0 else 3
        total += 2.0 * rows * work * passes
    return total
