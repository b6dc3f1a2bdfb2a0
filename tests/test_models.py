"""CCT and Speaker-CCT models: registry, official key format, pretrained loading, fusions."""
from __future__ import annotations

import json
import logging

import pytest
import timm
import torch
import torch.nn.functional as F
import yaml
from timm.models import get_pretrained_cfg

import specct.models  # noqa: F401  (registers the models)
from specct.models import FUSIONS, SpeakerCCT, set_fused_attn
from specct.models.layers import summarise_keys
from specct.models.linear import Linear, onednn_available, set_onednn_linear
from specct.models.variants import config_file

from conftest import REPO_ROOT, SHARED_DIR

REFERENCE_KEYS = SHARED_DIR / 'reference' / 'cct_state_dict_keys.json'
SMALL_SPEAKER_MODELS = {
    'second_transformer': 'speaker_vgg_cct_7_7x2_112',
    'end_to_end': 'speaker_vgg_cct_end_to_end_7_7x2_112',
    'end_to_end_speaker_token': 'speaker_vgg_cct_end_to_end_speaker_token_7_7x2_112',
}
# Behaviour tests keep the architecture but shrink it (depth, width), to stay fast on a CPU.
TINY = dict(depth=2, embed_dim=64, num_heads=2)


def reference_keys() -> dict:
    if not REFERENCE_KEYS.is_file():
        pytest.skip(f'reference key list not found at {REFERENCE_KEYS} (set SPECCT_SHARED)')
    return json.loads(REFERENCE_KEYS.read_text())


def speaker_batch(batch: int = 2, size: int = 112, width: int = 256, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 3, size, size, generator=generator),
            torch.randn(batch, width, generator=generator))


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- registry and official key format -----------------------------------------------------

def test_every_paper_name_and_alias_is_registered():
    names = set(timm.list_models('*cct*'))
    for fusion_name in ('speaker_vgg_cct', 'speaker_vgg_cct_end_to_end', 'speaker_vgg_cct_end_to_end_speaker_token',
                        'speaker_cct', 'speaker_cct_end_to_end', 'speaker_cct_speaker_token'):
        assert {f'{fusion_name}_14_7x2_224', f'{fusion_name}_7_7x2_112'} <= names
    assert {'cct_7_3x1_32', 'cct_7_7x2_224', 'cct_14_7x2_224', 'cct_14_7x2_384', 'cct_7_7x2_112'} <= names


@pytest.mark.parametrize('name', ['cct_14_7x2_224', 'cct_7_7x2_224', 'cct_7_3x1_32'])
def test_state_dict_keys_and_shapes_equal_the_release(name):
    expected = reference_keys()[name]
    num_classes = expected['classifier.fc.weight'][0]
    model = timm.create_model(name, num_classes=num_classes)
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert got == expected


def test_cct_14_has_163_tensors_and_22_37m_parameters():
    reference_keys()
    model = timm.create_model('cct_14_7x2_224')
    assert len(model.state_dict()) == 163
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == 22.37


def test_checkpoint_in_official_format_loads_from_file(tmp_path):
    """A checkpoint written from the reference key list alone (not from our model) loads through
    pretrained_cfg_overlay=dict(file=...) and every weight equals the file."""
    shapes = reference_keys()['cct_7_7x2_224']
    generator = torch.Generator().manual_seed(1)
    official = {k: torch.randn(*shape, generator=generator) for k, shape in shapes.items()}
    path = tmp_path / 'cct_7_7x2_224_official.pth'
    torch.save(official, path)
    model = timm.create_model('cct_7_7x2_224', pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in official.items())
    assert model.pretrained_report['left_random'] == []


def test_pretrained_load_drops_a_head_of_another_class_count(tmp_path):
    source = timm.create_model('cct_7_3x1_32', num_classes=10)
    path = tmp_path / 'cifar10.pth'
    torch.save({'model': source.state_dict()}, path)  # a wrapped checkpoint loads too
    model = timm.create_model('cct_7_3x1_32', pretrained=True, num_classes=3,
                              pretrained_cfg_overlay=dict(file=str(path)))
    assert model.get_classifier().out_features == 3
    assert model.pretrained_report['left_random'] == ['classifier.fc.weight', 'classifier.fc.bias']
    assert torch.equal(model.state_dict()['classifier.blocks.6.linear2.weight'],
                       source.state_dict()['classifier.blocks.6.linear2.weight'])


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / 'wrong.pth'
    torch.save({'classifier.fc.weight': torch.zeros(1000, 384)}, path)
    with pytest.raises(RuntimeError, match='lacks .* backbone weights'):
        timm.create_model('cct_7_7x2_112', pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))


def test_config_files_name_registered_models_of_their_input_size():
    configs = sorted((REPO_ROOT / 'configs').glob('*/*.yml'))
    assert len(configs) >= 5
    for path in configs:
        recipe = yaml.safe_load(path.read_text())
        assert recipe['model'] in timm.list_models(module=specct.models.FAMILIES), path
        assert tuple(recipe['input_size']) == get_pretrained_cfg(recipe['model']).input_size, path
        assert isinstance(recipe['lr'], float) and recipe['opt'] == 'adamw', path
    for name in timm.list_models(module=specct.models.FAMILIES):
        listed = config_file(name)
        assert listed is None or (REPO_ROOT / listed).is_file(), (name, listed)


# --- positional embedding and input sizes -------------------------------------------------

@pytest.mark.parametrize('img_size, grid', [(112, (7, 7)), ((112, 224), (7, 14))])
def test_positional_embedding_is_resized_bilinear_to_the_new_grid(tmp_path, img_size, grid):
    source = timm.create_model('cct_7_7x2_224')
    path = tmp_path / 'cct7.pth'
    torch.save(source.state_dict(), path)
    model = timm.create_model('cct_7_7x2_224', img_size=img_size, pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(path)))
    assert model.grid_size == grid
    old = source.classifier.positional_emb.detach().reshape(1, 14, 14, -1).permute(0, 3, 1, 2)
    expected = F.interpolate(old, size=grid, mode='bilinear', align_corners=False)
    expected = expected.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)
    torch.testing.assert_close(model.classifier.positional_emb.detach(), expected)
    assert torch.equal(model.tokenizer.conv_layers[1][0].weight, source.tokenizer.conv_layers[1][0].weight)
    assert model.pretrained_cfg['input_size'] == (3, *grid_to_pixels(img_size))
    out = model(torch.randn(1, 3, *grid_to_pixels(img_size)))
    assert out.shape == (1, 1000)


def grid_to_pixels(img_size):
    return (img_size, img_size) if isinstance(img_size, int) else img_size


def test_wrong_image_size_gets_a_clear_error():
    model = timm.create_model('cct_7_7x2_112')
    with pytest.raises(ValueError, match=r'expected images of shape \(B, 3, 112, 112\)'):
        model(torch.randn(1, 3, 224, 224))


def test_sine_variant_keeps_its_own_table(tmp_path):
    source = timm.create_model('cct_7_3x1_32')
    path = tmp_path / 'learnable.pth'
    torch.save(source.state_dict(), path)
    model = timm.create_model('cct_7_3x1_32_sine', pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    fresh = timm.create_model('cct_7_3x1_32_sine')
    assert torch.equal(model.classifier.positional_emb, fresh.classifier.positional_emb)
    assert not model.classifier.positional_emb.requires_grad


# --- speaker models -----------------------------------------------------------------------

@pytest.mark.parametrize('fusion', FUSIONS)
def test_fusion_runs_forward_and_backward_and_depends_on_the_speaker(fusion):
    torch.manual_seed(0)
    model = timm.create_model(SMALL_SPEAKER_MODELS[fusion], num_classes=4, **TINY)
    assert isinstance(model, SpeakerCCT) and model.fusion_kind == fusion
    image, speaker = speaker_batch()
    logits = model((image, speaker))
    assert logits.shape == (2, 4)
    logits.sum().backward()
    assert model.speaker_proj.weight.grad is not None and model.speaker_proj.weight.grad.abs().sum() > 0
    assert model.tokenizer.conv_layers[0][0].weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        base = model((image, speaker))
        other = model((image, speaker_batch(seed=5)[1]))
    assert not torch.allclose(base, other, atol=1e-4)


def test_speaker_models_take_one_tuple():
    model = timm.create_model('speaker_cct_7_7x2_112', num_classes=4, **TINY)
    with pytest.raises(TypeError, match='one tuple'):
        model(torch.randn(1, 3, 112, 112))
    with pytest.raises(ValueError, match=r'speaker vectors of shape \(B, 256\)'):
        model((torch.randn(1, 3, 112, 112), torch.randn(1, 100)))


def test_speaker_projection_only_when_widths_differ():
    assert isinstance(timm.create_model('speaker_cct_7_7x2_112', **TINY).speaker_proj, torch.nn.Linear)
    same_width = timm.create_model('speaker_cct_7_7x2_112', speaker_dim=TINY['embed_dim'], **TINY)
    assert isinstance(same_width.speaker_proj, torch.nn.Identity)


def test_imagenet_weights_fill_every_backbone_weight_of_a_speaker_model(tmp_path, caplog):
    torch.manual_seed(0)
    imagenet = timm.create_model('cct_14_7x2_224')
    path = tmp_path / 'cct_14_7x2_224_imagenet.pth'
    torch.save(imagenet.state_dict(), path)
    with caplog.at_level(logging.INFO, logger='specct.models.cct'):
        model = timm.create_model('speaker_vgg_cct_7_7x2_112', pretrained=True, num_classes=4,
                                  pretrained_cfg_overlay=dict(file=str(path)))
    source, loaded = imagenet.state_dict(), model.state_dict()
    for key in model.backbone_keys():
        if key != 'classifier.positional_emb':
            assert torch.equal(loaded[key], source[key]), key
    assert torch.equal(loaded['classifier.attention_pool.weight'], source['classifier.attention_pool.weight'])
    report = model.pretrained_report
    assert summarise_keys(report['left_random']) == \
        'classifier.fc, speaker_proj, fusion.positional_emb, fusion.blocks.0, fusion.norm'
    assert summarise_keys(report['unused']) == 'classifier.blocks.7-13'
    assert 'left at init' in caplog.text and 'fusion.blocks.0' in caplog.text


def test_pretrained_true_works_offline_from_the_hub_cache(tmp_path, monkeypatch):
    torch.manual_seed(0)
    imagenet = timm.create_model('cct_7_7x2_112', img_size=224, depth=14)  # CCT-14/7x2 at 224 px
    cache = tmp_path / 'torch_home' / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    torch.save(imagenet.state_dict(), cache / 'cct_14_7x2_224_imagenet.pth')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    model = timm.create_model('speaker_cct_end_to_end_7_7x2_112', pretrained=True, num_classes=4)
    assert torch.equal(model.classifier.blocks[6].linear1.weight, imagenet.classifier.blocks[6].linear1.weight)


def test_pca_buffers_start_as_identity_and_attach_a_fitted_pca():
    torch.manual_seed(0)
    with_pca = timm.create_model('speaker_cct_end_to_end_7_7x2_112', num_classes=4,
                                 speaker_dim=8, speaker_raw_dim=256, **TINY).eval()
    assert torch.equal(with_pca.speaker_pca_mean, torch.zeros(256))
    assert torch.equal(with_pca.speaker_pca_components, torch.eye(8, 256))
    generator = torch.Generator().manual_seed(3)
    mean, components = torch.randn(256, generator=generator), torch.randn(8, 256, generator=generator)
    with_pca.attach_speaker_pca(mean.numpy(), components.numpy())
    assert {'speaker_pca_mean', 'speaker_pca_components'} <= set(with_pca.state_dict())

    reduced = timm.create_model('speaker_cct_end_to_end_7_7x2_112', num_classes=4, speaker_dim=8, **TINY).eval()
    reduced.load_state_dict({k: v for k, v in with_pca.state_dict().items() if not k.startswith('speaker_pca')})
    image, raw = speaker_batch()
    with torch.no_grad():
        torch.testing.assert_close(with_pca((image, raw)), reduced((image, (raw - mean) @ components.T)))
    with pytest.raises(ValueError, match='do not fit'):
        with_pca.attach_speaker_pca(mean[:10], components)
    with pytest.raises(ValueError, match='speaker_raw_dim'):
        reduced.attach_speaker_pca(mean, components)


def test_saved_speaker_model_recreated_from_its_cfg_gives_the_same_outputs(tmp_path):
    torch.manual_seed(0)
    name, kwargs = 'speaker_cct_speaker_token_7_7x2_112', dict(num_classes=4, speaker_raw_dim=256, **TINY)
    model = timm.create_model(name, **kwargs).eval()
    model.attach_speaker_pca(torch.randn(256), torch.randn(256, 256))
    path = tmp_path / 'trained.pth'
    torch.save(model.state_dict(), path)
    overlay = dict(model.pretrained_cfg, file=str(path), num_classes=4)
    again = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs).eval()
    assert again.pretrained_report['left_random'] == []
    assert same_weights(model, again)
    inputs = speaker_batch()
    with torch.no_grad():
        assert torch.equal(model(inputs), again(inputs))


def test_classifier_interface():
    model = timm.create_model('speaker_cct_7_7x2_112', num_classes=4, **TINY)
    assert model.num_classes == 4 and model.get_classifier().out_features == 4
    model.reset_classifier(7)
    assert model.num_classes == 7 and model(speaker_batch()).shape == (2, 7)
    cfg = model.pretrained_cfg
    assert cfg['input_size'] == (3, 112, 112) and cfg['crop_pct'] == 1.0
    assert tuple(cfg['mean']) == (0.485, 0.456, 0.406) and tuple(cfg['std']) == (0.229, 0.224, 0.225)
    assert cfg['url'].endswith('cct_14_7x2_224_imagenet.pth')


# --- attention paths ----------------------------------------------------------------------

@pytest.mark.parametrize('name', ['cct_7_7x2_112', 'speaker_vgg_cct_7_7x2_112'])
def test_fused_and_naive_attention_agree(name):
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=4, depth=2).eval()
    inputs = speaker_batch() if name.startswith('speaker') else speaker_batch()[0]
    with torch.no_grad():
        fused = set_fused_attn(model, True)(inputs)
        naive = set_fused_attn(model, False)(inputs)
    torch.testing.assert_close(fused, naive, atol=1e-5, rtol=1e-5)


def test_no_random_numbers_drawn_without_dropout():
    model = timm.create_model('speaker_cct_end_to_end_7_7x2_112', num_classes=4,
                              drop_rate=0., attn_drop_rate=0., drop_path_rate=0., **TINY)
    inputs = speaker_batch()
    for fused in (True, False):
        set_fused_attn(model, fused)
        state = torch.get_rng_state()
        model(inputs).sum().backward()  # training mode, rates 0
        assert torch.equal(state, torch.get_rng_state())
    model.eval()
    model.classifier.blocks[0].self_attn.attn_drop = 0.5  # a rate, but eval
    state = torch.get_rng_state()
    model(inputs)
    assert torch.equal(state, torch.get_rng_state())


def test_cpu_attention_dropout_drops_the_masked_weights_and_rescales(monkeypatch):
    from specct.models import layers
    torch.manual_seed(0)
    attention = layers.Attention(dim=16, num_heads=2, attn_drop=0.25).train()
    x = torch.randn(3, 5, 16)
    mask = torch.rand(3, 2, 5, 5, generator=torch.Generator().manual_seed(1)) < 0.25
    monkeypatch.setattr(layers, 'dropout_mask', lambda shape, rate, device: mask)

    q, k, v = attention.qkv(x).reshape(3, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
    weights = (q @ k.transpose(-2, -1) / 8 ** 0.5).softmax(dim=-1)
    expected = (weights.masked_fill(mask, 0.) / 0.75) @ v
    expected = attention.proj(expected.transpose(1, 2).reshape(3, 5, 16))
    torch.testing.assert_close(attention(x), expected, atol=1e-6, rtol=1e-5)


def test_dropout_mask_has_the_rate_and_follows_the_seed():
    from specct.models.layers import dropout_mask
    shape = (7, 6, 101, 97)  # an element count not divisible by four
    torch.manual_seed(3)
    first = dropout_mask(shape, 0.1, torch.device('cpu'))
    torch.manual_seed(3)
    again = dropout_mask(shape, 0.1, torch.device('cpu'))
    other = dropout_mask(shape, 0.1, torch.device('cpu'))
    assert first.shape == shape and first.dtype == torch.bool
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert abs(first.float().mean().item() - 0.1) < 0.003  # 411k draws: the standard error is 0.0005
    assert dropout_mask((1000, 1000), 0.5, torch.device('cpu')).float().mean().item() == pytest.approx(0.5, abs=0.003)
    assert not dropout_mask((1000,), 0., torch.device('cpu')).any()


def test_attention_dropout_must_be_below_one():
    from specct.models.layers import Attention
    with pytest.raises(ValueError, match='attention dropout'):
        Attention(dim=16, num_heads=2, attn_drop=1.)


# --- oneDNN linear layers -------------------------------------------------------------------

needs_onednn = pytest.mark.skipif(not onednn_available(), reason='this torch build has no oneDNN')


@needs_onednn
@pytest.mark.parametrize('bias', [True, False])
def test_onednn_linear_equals_f_linear_forward_and_backward(bias):
    torch.manual_seed(0)
    layer = set_onednn_linear(Linear(48, 80, bias=bias), True)
    assert layer.onednn
    x = torch.randn(4, 9, 48, requires_grad=True)
    grad = torch.randn(4, 9, 80)

    out = layer(x)
    out.backward(grad)
    grads = [x.grad.clone(), layer.weight.grad.clone()] + ([layer.bias.grad.clone()] if bias else [])
    x.grad = None
    layer.zero_grad()
    expected = F.linear(x, layer.weight, layer.bias)
    expected.backward(grad)
    expected_grads = [x.grad, layer.weight.grad] + ([layer.bias.grad] if bias else [])

    assert out.grad_fn is not None and 'OneDNN' in type(out.grad_fn).__name__
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@needs_onednn
def test_onednn_linear_gives_the_model_outputs_and_gradients_of_the_plain_path():
    torch.manual_seed(0)
    model = timm.create_model('speaker_vgg_cct_7_7x2_112', num_classes=4, depth=2)
    inputs = speaker_batch()
    results = []
    for enabled in (True, False):
        set_onednn_linear(model, enabled)
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout masks on both paths
        logits = model(inputs)
        logits.square().sum().backward()
        results.append((logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (fast, fast_grads), (plain, plain_grads) = results
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)
    for name, grad in plain_grads.items():
        # Gradients that are zero in exact arithmetic (softmax shift invariance) are rounding noise.
        torch.testing.assert_close(fast_grads[name], grad, atol=1e-5 * max(1., grad.abs().max().item()), rtol=1e-4)


def test_linear_takes_the_plain_path_where_onednn_does_not_apply():
    layer = Linear(8, 4)
    x = torch.randn(2, 8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert layer(x).dtype == torch.bfloat16  # autocast still casts it
    double = Linear(8, 4).double()
    assert double(x.double()).dtype == torch.float64
    assert set_onednn_linear(layer, False).onednn is False
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))


@needs_onednn
@pytest.mark.parametrize('shape', [(8,), (2, 3, 5, 8), (0, 8)])
def test_onednn_linear_takes_any_leading_shape(shape):
    layer = set_onednn_linear(Linear(8, 4), True)
    x = torch.randn(*shape, requires_grad=True)
    out = layer(x)
    out.sum().backward()
    torch.testing.assert_close(out, F.linear(x, layer.weight, layer.bias))
    assert x.grad.shape == x.shape


def test_onednn_is_on_by_default_only_where_it_was_measured_to_help(monkeypatch):
    from specct.models import linear
    monkeypatch.delenv(linear.ENV_SWITCH, raising=False)
    monkeypatch.setattr(linear, 'onednn_available', lambda: True)
    for vendor, flags, expected in (('AuthenticAMD', {'avx2', 'avx512f'}, True),
                                    ('AuthenticAMD', {'avx2'}, False),  # AVX2 EPYC: 0.98x, off
                                    ('GenuineIntel', {'avx2', 'avx512f'}, False)):  # not measured: off
        monkeypatch.setattr(linear, 'cpu_features', lambda: {'model': 'x', 'vendor': vendor, 'flags': flags})
        assert linear.onednn_helps() is expected and Linear(4, 2).onednn is expected
    monkeypatch.setenv(linear.ENV_SWITCH, '1')
    assert linear.onednn_helps() is True
    monkeypatch.setenv(linear.ENV_SWITCH, '0')
    monkeypatch.setattr(linear, 'cpu_features', lambda: {'model': 'x', 'vendor': 'AuthenticAMD',
                                                          'flags': {'avx512f'}})
    assert linear.onednn_helps() is False


def test_a_torch_without_the_onednn_operator_falls_back_to_f_linear(monkeypatch):
    from specct.models import linear

    class NoSuchOperator:  # what torch.ops.mkldnn looks like in a release without the operator
        def __getattr__(self, name):
            raise AttributeError(f"'_OpNamespace' 'mkldnn' object has no attribute '{name}'")

    monkeypatch.setattr(torch.ops, 'mkldnn', NoSuchOperator())
    monkeypatch.setenv(linear.ENV_SWITCH, '1')
    assert linear._onednn_op() is None and not linear.onednn_available()
    layer = set_onednn_linear(Linear(8, 4), True)
    assert layer.onednn is False
    x = torch.randn(3, 8)
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))


def test_a_failing_onednn_call_switches_the_layer_to_f_linear(monkeypatch):
    from specct.models import linear

    def changed_signature(*args):
        raise RuntimeError("mkldnn::_linear_pointwise() expected at most 5 argument(s)")

    monkeypatch.setattr(linear, '_onednn_op', lambda: changed_signature)
    layer = Linear(8, 4)
    layer.onednn = True
    x = torch.randn(3, 8, requires_grad=True)
    with pytest.warns(RuntimeWarning, match='using F.linear from now on'):
        out = layer(x)
    assert layer.onednn is False
    torch.testing.assert_close(out, F.linear(x, layer.weight, layer.bias))
    out.sum().backward()
    assert x.grad is not None


def test_attention_paths_have_their_own_names():
    from specct.models.layers import Attention
    attention = Attention(dim=16, num_heads=2, attn_drop=0.1)
    x = torch.randn(2, 5, 16)
    assert attention.fused_attn and attention.cpu_dropout_attn
    assert attention.path(x, 0.) == 'fused'          # inference, or no dropout: SDPA
    assert attention.path(x, 0.1) == 'cpu_dropout'   # CPU training with attention dropout
    attention.cpu_dropout_attn = False
    assert attention.path(x, 0.1) == 'fused'         # SDPA draws its own dropout
    set_fused_attn(attention, False)
    assert attention.path(x, 0.) == 'explicit' and attention.path(x, 0.1) == 'explicit'
    set_fused_attn(attention, True)
    assert attention.path(x, 0.1) == 'cpu_dropout'


@pytest.mark.parametrize('name', ['cct_7_7x2_112', 'speaker_vgg_cct_7_7x2_112', 'speaker_cct_end_to_end_7_7x2_112'])
def test_position_embeddings_are_not_weight_decayed(name):
    from timm.optim import create_optimizer_v2
    model = timm.create_model(name, num_classes=4, depth=2)
    names = {id(p): n for n, p in model.named_parameters()}
    optimizer = create_optimizer_v2(model, opt='adamw', lr=1e-3, weight_decay=0.05)
    decay = {g['weight_decay']: {names[id(p)] for p in g['params']} for g in optimizer.param_groups}
    expected = {'classifier.positional_emb'} | ({'fusion.positional_emb'} if name.startswith('speaker_vgg')
                                                 else {'speaker_pos_emb'} if name.startswith('speaker') else set())
    assert model.no_weight_decay() == expected
    assert expected <= decay[0.0]
    assert not expected & decay[0.05]
    assert 'classifier.blocks.0.linear1.weight' in decay[0.05]


def test_gmacs_count_every_matmul_of_cct_14():
    from specct.models.variants import count_gmacs
    model = timm.create_model('cct_14_7x2_224', num_classes=1000)
    # Tokenizer 1.06, 14 blocks of 0.318 (linear layers 0.289, attention products 0.029), head.
    assert count_gmacs(model) == pytest.approx(5.53, abs=0.05)


@pytest.mark.parametrize('name', list(SMALL_SPEAKER_MODELS.values()))
def test_models_compile_whole_in_training(name):
    # One graph, no breaks: the oneDNN linear and the cheap dropout mask step aside under the compiler.
    model = timm.create_model(name, num_classes=4, img_size=32, attn_drop_rate=0.1, **TINY).train()
    explanation = torch._dynamo.explain(model)(speaker_batch(size=32))
    assert explanation.graph_break_count == 0, explanation.break_reasons


def test_import_specct_models_registers_them_and_import_specct_stays_light():
    """`import specct.models` is enough for timm.create_model (as with timm plugins) and loads no audio or
    speaker library; `import specct` alone loads not even torch (the `specct` command's --help)."""
    import os
    import subprocess
    import sys

    code = ("import sys, specct; print(sorted(m for m in ('torch', 'timm') if m in sys.modules)); "
            "import timm, specct.models; "
            "print('speaker_vgg_cct_14_7x2_224' in timm.list_models(), 'cct_14_7x2_224' in timm.list_models()); "
            "print(sorted(m for m in ('librosa', 'resemblyzer', 'sklearn', 'pandas') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    light, registered, loaded = done.stdout.splitlines()
    assert light == "[]"
    assert registered == "True True"
    assert loaded == "[]"
