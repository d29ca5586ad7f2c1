"""The `train` section of params.yaml loads into TrainConfig; bad keys and values are refused."""

from pathlib import Path

import pytest

from components.config import ConfigError, as_flat_dict, build, load_section
from components.training.config import TrainConfig

PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"


def test_params_yaml_train_section_loads():
    cfg = load_section(TrainConfig, "train", PARAMS)
    assert cfg.rollout.group_size == 8
    assert cfg.grpo.clip == 0.2 and cfg.grpo.kl_coef == 0.001 and cfg.grpo.entropy_coef == 0.001
    assert cfg.spr.loss == "spr" and cfg.spr.backbone_grad_scale == 1e-4 and cfg.spr.pos_weight == 1.5
    assert cfg.optim.weight_decay == 1e-2 and cfg.reward.format_reward == 0.1
    flat = as_flat_dict(cfg)
    assert flat["spr.loss"] == "spr" and "rollout.max_new_tokens" in flat


def test_defaults_are_the_reference_constants():
    cfg = TrainConfig()
    assert (cfg.rollout.prompts_per_step, cfg.rollout.group_size, cfg.rollout.temperature) == (32, 8, 0.6)
    assert (cfg.optim.policy_lr, cfg.optim.head_lr) == (1e-6, 1e-5)


def test_unknown_key_and_bad_values_are_refused():
    with pytest.raises(ConfigError, match="unknown key 'kl'"):
        build(TrainConfig, {"grpo": {"kl": 0.1}}, "train")
    with pytest.raises(ConfigError, match="spr.loss"):
        build(TrainConfig, {"spr": {"loss": "mse"}}, "train")
    with pytest.raises(ConfigError, match="group_size must be >= 2"):
        build(TrainConfig, {"rollout": {"group_size": 1}}, "train")
    with pytest.raises(ConfigError, match="format_reward"):
        build(TrainConfig, {"reward": {"format_reward": 0.7}}, "train")
    with pytest.raises(ConfigError, match="spr.head_updates must be >= 1"):
        build(TrainConfig, {"spr": {"head_updates": 0}}, "train")
    with pytest.raises(ConfigError, match="spr.pairwise_coef must be >= 0"):
        build(TrainConfig, {"spr": {"pairwise_coef": -1}}, "train")
    with pytest.raises(ConfigError, match="sprm_features"):
        build(TrainConfig, {"sprm_features": "hidden+entropy"}, "train")
    with pytest.raises(ConfigError, match="rollout.backend vllm"):
        build(TrainConfig, {"sprm_features": "hidden+logprob+entropy", "rollout": {"backend": "vllm"}}, "train")


def test_head_lr_boost_during_warmup_only():
    from components.training.config import OptimConfig, SPRConfig
    from components.training.config import lr_factors

    cfg = TrainConfig(optim=OptimConfig(head_lr=1e-4, warmup_steps=2),
                      spr=SPRConfig(bce_warmup_steps=3, warmup_head_lr=1e-3))
    policy, head = lr_factors(cfg)
    assert [policy(s) for s in range(4)] == [0.5, 1.0, 1.0, 1.0]          # linear ramp over 2 steps
    assert [round(head(s), 9) for s in range(5)] == [5.0, 10.0, 10.0, 1.0, 1.0]
    ablation = TrainConfig(optim=cfg.optim, spr=SPRConfig(loss="bce", bce_warmup_steps=3, warmup_head_lr=1e-3))
    assert [lr_factors(ablation)[1](s) for s in range(4)] == [0.5, 1.0, 1.0, 1.0]   # no warm-up phase in bce
