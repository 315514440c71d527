"""The trainer's parts, without training: optimiser groups, schedule, EMA, options, transfer."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from poseexport import PoseModel
from poseexport.errors import UnsupportedOptionError
from poseexport.nn.config import resolve_arch
from poseexport.nn.network import PoseNet
from poseexport.train.distributed import DistContext, wrap_model
from poseexport.train.ema import ModelEMA
from poseexport.train.optim import build_optimizer, choose_optimizer, parameter_groups
from poseexport.train.options import TrainOptions
from poseexport.train.schedule import Schedule, lr_factor, warmup_iterations
from poseexport.train.transfer import freeze_layers, starting_net


def tiny_net(**kw) -> PoseNet:
    spec = resolve_arch("posenet-test.yaml")
    return PoseNet(spec.config, spec.scale, **kw)


def test_parameter_groups_no_decay_on_norms_and_biases():
    net = tiny_net()
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    trainable = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    n_bias = sum(n.endswith(".bias") for n, _ in trainable)
    weights, norms, biases = parameter_groups(net)
    assert (len(weights), len(norms), len(biases)) == (82, 73, 82)
    assert len(norms) == n_bn and len(biases) == n_bias  # every BN has a weight and a bias
    assert len(weights) + len(norms) + len(biases) == len(trainable)  # the DFL conv is not trained
    assert all(p.dim() == 4 for p in weights) and all(p.dim() == 1 for p in norms + biases)

    opt = build_optimizer(net, choose_optimizer("SGD", 0.01, 0.937, 100, 1), weight_decay=5e-4)
    assert [g["weight_decay"] for g in opt.param_groups] == [5e-4, 0.0, 0.0]
    assert [g["param_group"] for g in opt.param_groups] == ["weight", "norm", "bias"]
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["nesterov"]


def test_auto_optimizer_choice():
    short = choose_optimizer("auto", 0.01, 0.937, iterations=1000, nc=1)
    assert (short.name, short.lr0, short.momentum, short.auto) == ("AdamW", 0.002, 0.9, True)
    assert choose_optimizer("auto", 0.01, 0.937, 1000, nc=80).lr0 == round(0.01 / 84, 6)
    long = choose_optimizer("auto", 0.05, 0.937, iterations=20_000, nc=1)
    assert (long.name, long.lr0, long.momentum) == ("SGD", 0.01, 0.9)
    assert choose_optimizer("AdamW", 0.003, 0.85, 10**6, 1) == choose_optimizer("AdamW", 0.003, 0.85, 1, 1)


def test_lr_schedules():
    assert lr_factor(0, 100, 0.01, cos=False) == 1.0
    assert lr_factor(50, 100, 0.01, cos=False) == pytest.approx(0.505)
    assert lr_factor(100, 100, 0.01, cos=False) == pytest.approx(0.01)
    assert lr_factor(50, 100, 0.01, cos=True) == pytest.approx(0.505)
    assert lr_factor(25, 100, 0.01, cos=True) == pytest.approx(1 - 0.99 * (1 - math.cos(math.pi / 4)) / 2)
    assert warmup_iterations(3, 50) == 150
    assert warmup_iterations(3, 1) == 100  # a tiny dataset still warms up over 100 steps
    assert warmup_iterations(0, 10) == 0


def test_warmup_lr_momentum_and_accumulation_at_chosen_iterations():
    net = tiny_net()
    opt = build_optimizer(net, choose_optimizer("SGD", 0.01, 0.937, 100, 1), 5e-4)
    sched = Schedule(epochs=10, lrf=0.01, cos=False, warmup_iters=20, warmup_bias_lr=0.1, warmup_momentum=0.8,
                     momentum=0.937, accumulate=4)
    target = 0.01 * lr_factor(1, 10, 0.01, False)  # iteration 10..20 lies in epoch 1
    expected = {0: (0.0, 0.1, 0.8, 1), 10: (target / 2, (0.1 + target) / 2, 0.8685, 2),
                20: (target, target, 0.937, 4)}
    for iteration, (lr, bias_lr, momentum, accumulate) in expected.items():
        got = sched.warm(opt, iteration, epoch=0 if iteration == 0 else 1)
        lrs = [g["lr"] for g in opt.param_groups]
        assert lrs[0] == pytest.approx(lr) and lrs[1] == pytest.approx(lr) and lrs[2] == pytest.approx(bias_lr)
        assert opt.param_groups[0]["momentum"] == pytest.approx(momentum) and got == accumulate
    sched.start_epoch(opt, 5)
    assert sched.warm(opt, 21, 5) == 4 and opt.param_groups[2]["lr"] == pytest.approx(0.01 * lr_factor(5, 10, 0.01, False))


def test_ema_decay_ramp_and_update():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = ModelEMA(model, decay=0.9999, tau=2000)
    assert not any(p.requires_grad for p in ema.model.parameters())
    before = ema.model[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update(model)
    d = 0.9999 * (1 - math.exp(-1 / 2000))
    torch.testing.assert_close(ema.model[0].weight, before * d + model[0].weight * (1 - d))
    ema.updates = 10_000
    assert ema.decay() == pytest.approx(0.9999 * (1 - math.exp(-5)))
    model[1].num_batches_tracked.fill_(7)
    ema.update(model)
    assert int(ema.model[1].num_batches_tracked) == 7  # integer buffers are copied, not averaged


def test_options_route_flat_names_and_refuse_unknown_ones():
    opts = TrainOptions.from_kwargs(epochs=5, mosaic=0.25, degrees=10.0, pose=6.0, kobj=2.0)
    assert opts.epochs == 5 and opts.augment.mosaic == 0.25 and opts.augment.degrees == 10.0
    assert opts.gains.pose == 6.0 and opts.gains.kobj == 2.0 and opts.gains.box == 7.5
    assert TrainOptions.from_dict(opts.to_dict()) == opts
    with pytest.raises(UnsupportedOptionError, match="mosiac") as err:
        TrainOptions.from_kwargs(mosiac=0.5)
    assert "did you mean mosaic" in str(err.value)
    for bad in ({"optimizer": "Adam"}, {"imgsz": 100}, {"epochs": 0}, {"lrf": 0.0}):
        with pytest.raises(UnsupportedOptionError):
            TrainOptions.from_kwargs(**bad)


def test_transfer_into_another_keypoint_layout(tmp_path):
    source = PoseModel("posenet-test.yaml")
    path = source.save(tmp_path / "k17.pt")
    start = starting_net(path, nc=1, kpt_shape=(5, 3))
    assert tuple(start.net.kpt_shape) == (5, 3)
    total = len(start.net.state_dict())
    # the keypoint branch is sized by K*D (51 -> 15 channels): it alone cannot take the 17-point tensors
    cv4 = [k for k in start.net.state_dict() if k.startswith("model.22.cv4.")
           and not k.endswith("num_batches_tracked")]  # scalar counters fit any layout
    assert len(cv4) == 36 and start.transferred == (total - len(cv4), total)
    assert "built a new head" in start.notes[0] and f"{total - 36}/{total}" in start.notes[0]
    same = starting_net("posenet-test.yaml", nc=1, kpt_shape=(17, 3), pretrained=path)
    assert same.transferred == (total, total)
    torch.testing.assert_close(same.net.state_dict()["model.0.conv.weight"], source.net.state_dict()["model.0.conv.weight"])
    with pytest.raises(UnsupportedOptionError, match="fused"):
        starting_net(PoseModel("posenet-test.yaml").fuse(), 1, (17, 3))


def test_new_network_starts_from_class_priors():
    net = starting_net("posenet-test.yaml", 1, (17, 3)).net
    for cls, stride in zip(net.head.cv3, (8, 16, 32)):
        assert float(cls[-1].bias[0].detach()) == pytest.approx(math.log(5 / (640 / stride) ** 2))


def test_freeze_layers():
    net = tiny_net()
    frozen = freeze_layers(net, 3)
    assert frozen == sum(1 for i in range(3) for _ in net.model[i].parameters())
    assert not any(p.requires_grad for i in range(3) for p in net.model[i].parameters())
    assert all(p.requires_grad for p in net.model[3].parameters())
    assert sum(len(g) for g in parameter_groups(net)) == sum(p.requires_grad for p in net.parameters())
    with pytest.raises(UnsupportedOptionError, match="layers"):
        freeze_layers(tiny_net(), 99)


def test_sync_bn_is_refused_where_it_cannot_work():
    with pytest.raises(UnsupportedOptionError, match="needs distributed"):
        wrap_model(tiny_net(), DistContext(), sync_bn=True)
    with pytest.raises(UnsupportedOptionError, match="on CPU"):
        wrap_model(tiny_net(), DistContext(rank=0, world_size=2), sync_bn=True)
