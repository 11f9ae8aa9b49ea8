"""Tests of course_lib.data: bundled data sets, seeded splits and mini-batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import datasets as sklearn_datasets

from course_lib.data import (
    DATASETS,
    Dataset,
    batch_indices,
    iterate_batches,
    load_breast_cancer,
    load_dataset,
    load_diabetes,
    load_digits,
    load_wine,
    num_batches,
)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits(device="cpu")


@pytest.fixture(scope="module")
def diabetes() -> Dataset:
    return load_diabetes(device="cpu")


# -- loading -------------------------------------------------------------------


@pytest.mark.parametrize("name", DATASETS)
def test_split_sizes_add_up(name: str) -> None:
    data = load_dataset(name, device="cpu")
    loader = {
        "digits": sklearn_datasets.load_digits,
        "diabetes": sklearn_datasets.load_diabetes,
        "breast_cancer": sklearn_datasets.load_breast_cancer,
        "wine": sklearn_datasets.load_wine,
    }[name]
    total = len(loader().target)
    assert data.num_train + data.num_val == total
    assert abs(data.num_val - 0.2 * total) <= data.num_outputs
    assert data.x_train.shape == (data.num_train, data.num_features)
    assert data.x_val.shape == (data.num_val, data.num_features)


def test_split_partitions_original_rows(digits: Dataset) -> None:
    # Undo the standardization and match every row to a row of the raw set.
    raw = torch.from_numpy(sklearn_datasets.load_digits().data).float()
    restored = torch.cat([digits.x_train, digits.x_val])
    restored = restored * digits.feature_std + digits.feature_mean
    distances = torch.cdist(restored, raw)
    nearest = distances.argmin(dim=1)
    assert distances.min(dim=1).values.max() < 1e-3
    assert len(set(nearest.tolist())) == raw.shape[0]


def test_split_keeps_labels_with_rows(digits: Dataset) -> None:
    bunch = sklearn_datasets.load_digits()
    raw = torch.from_numpy(bunch.data).float()
    restored = digits.x_val * digits.feature_std + digits.feature_mean
    nearest = torch.cdist(restored, raw).argmin(dim=1)
    expected = torch.from_numpy(bunch.target)[nearest]
    torch.testing.assert_close(digits.y_val, expected)


def test_split_same_seed_same_split() -> None:
    first = load_wine(device="cpu", seed=3)
    second = load_wine(device="cpu", seed=3)
    torch.testing.assert_close(first.x_train, second.x_train)
    torch.testing.assert_close(first.y_val, second.y_val)


def test_split_other_seed_other_split() -> None:
    first = load_wine(device="cpu", seed=3)
    second = load_wine(device="cpu", seed=4)
    assert not torch.equal(first.feature_mean, second.feature_mean)


def test_split_val_fraction(digits: Dataset) -> None:
    data = load_digits(device="cpu", val_fraction=0.5)
    assert abs(data.num_val - data.num_train) <= 10


def test_split_stratified_per_class(digits: Dataset) -> None:
    counts = np.bincount(sklearn_datasets.load_digits().target)
    expected = torch.from_numpy(np.round(0.2 * counts).astype(np.int64))
    torch.testing.assert_close(torch.bincount(digits.y_val), expected)


def test_split_unstratified_total() -> None:
    data = load_breast_cancer(device="cpu", seed=1, stratify=False)
    assert data.num_val == round(0.2 * 569)


def test_standardized_train_mean_zero(digits: Dataset) -> None:
    mean = digits.x_train.double().mean(dim=0)
    torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-6, rtol=0)


def test_standardized_train_std_one(digits: Dataset) -> None:
    std = digits.x_train.double().std(dim=0)
    varying = std > 0
    torch.testing.assert_close(
        std[varying], torch.ones_like(std[varying]), atol=1e-5, rtol=0
    )


def test_standardized_constant_pixels_stay_finite(digits: Dataset) -> None:
    # A few corner pixels are blank in every training digit.
    constant = digits.x_train.std(dim=0) == 0
    assert constant.any()
    assert torch.isfinite(digits.x_val).all()
    assert (digits.feature_std[constant] == 1).all()


def test_standardized_with_train_statistics_only(digits: Dataset) -> None:
    raw = torch.from_numpy(sklearn_datasets.load_digits().data)
    restored = digits.x_train.double() * digits.feature_std.double()
    restored = restored + digits.feature_mean.double()
    torch.testing.assert_close(
        digits.feature_mean.double(), restored.mean(dim=0), atol=1e-4, rtol=0
    )
    # The mean of all rows differs, so it was not the one used.
    assert (digits.feature_mean.double() - raw.mean(dim=0)).abs().max() > 1e-3


def test_standardize_off_keeps_raw_values() -> None:
    data = load_wine(device="cpu", standardize=False)
    raw = torch.from_numpy(sklearn_datasets.load_wine().data).float()
    assert data.x_train.max() == raw.max()
    assert (data.feature_std == 1).all()


def test_diabetes_raw_features_standardized(diabetes: Dataset) -> None:
    std = diabetes.x_train.double().std(dim=0)
    torch.testing.assert_close(std, torch.ones_like(std), atol=1e-5, rtol=0)


def test_diabetes_target_shape(diabetes: Dataset) -> None:
    assert diabetes.y_train.shape == (diabetes.num_train, 1)
    assert diabetes.task == "regression"
    assert diabetes.num_classes is None
    assert diabetes.num_outputs == 1


def test_diabetes_target_standardized(diabetes: Dataset) -> None:
    assert abs(float(diabetes.y_train.double().mean())) < 1e-5
    assert float(diabetes.y_train.double().std()) == pytest.approx(1.0, abs=1e-5)


def test_diabetes_target_restores_units(diabetes: Dataset) -> None:
    # The raw targets are whole numbers of the disease progression scale.
    raw = set(sklearn_datasets.load_diabetes().target.tolist())
    restored = diabetes.y_train.double() * diabetes.target_std + diabetes.target_mean
    rounded = restored.round()
    torch.testing.assert_close(restored, rounded, atol=1e-3, rtol=0)
    assert set(rounded.reshape(-1).tolist()) <= raw


def test_diabetes_target_unstandardized() -> None:
    data = load_diabetes(device="cpu", standardize_target=False)
    raw = sklearn_datasets.load_diabetes().target
    values = set(np.round(raw, 3).tolist())
    assert set(np.round(data.y_val.reshape(-1).double().numpy(), 3)) <= values


def test_classification_targets_are_int64(digits: Dataset) -> None:
    assert digits.y_train.dtype == torch.int64
    assert digits.num_classes == 10
    assert digits.class_names[:3] == ("0", "1", "2")


def test_dtype_float64() -> None:
    data = load_wine(device="cpu", dtype=torch.float64)
    assert data.x_train.dtype == torch.float64


def test_device_argument_places_tensors() -> None:
    data = load_wine(device="cpu")
    assert data.device == torch.device("cpu")
    assert data.y_val.device == torch.device("cpu")


def test_default_device_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert load_wine().device == torch.device("cpu")


def test_subset_keeps_validation(digits: Dataset) -> None:
    small = digits.subset(100, seed=1)
    assert small.num_train == 100
    torch.testing.assert_close(small.x_val, digits.x_val)


def test_subset_rejects_too_many(digits: Dataset) -> None:
    with pytest.raises(ValueError, match="larger than the 1438"):
        digits.subset(5000)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_fraction": 0.0}, "strictly between 0 and 1"),
        ({"val_fraction": 1.0}, "strictly between 0 and 1"),
        ({"val_fraction": "half"}, "must be a number"),
        ({"seed": -1}, "non-negative integer"),
        ({"dtype": torch.int32}, "floating-point dtype"),
        ({"val_fraction": 0.001}, "empty split"),
    ],
)
def test_load_rejects_bad_argument(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_dataset("wine", device="cpu", **kwargs)


def test_load_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown data set 'mnist'; choose one of"):
        load_dataset("mnist", device="cpu")


# -- mini-batches --------------------------------------------------------------


def test_batches_without_replacement_cover_epoch() -> None:
    generator = torch.Generator().manual_seed(0)
    batches = batch_indices(10, 4, generator=generator)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))


def test_batches_match_randperm() -> None:
    batches = batch_indices(10, 4, generator=torch.Generator().manual_seed(5))
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(torch.cat(batches), expected)


def test_batches_drop_last() -> None:
    batches = batch_indices(10, 4, drop_last=True)
    assert [len(b) for b in batches] == [4, 4]
    assert len(set(torch.cat(batches).tolist())) == 8


def test_batches_no_shuffle_in_order() -> None:
    batches = batch_indices(7, 3, shuffle=False)
    assert [b.tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]


def test_batches_with_replacement_repeat() -> None:
    batches = batch_indices(
        50, 50, generator=torch.Generator().manual_seed(0), replacement=True
    )
    drawn = batches[0]
    assert len(drawn) == 50
    # 50 draws from 50 items repeat one with probability 1 - 50!/50**50.
    assert len(set(drawn.tolist())) < 50
    assert drawn.min() >= 0
    assert drawn.max() < 50


def test_batches_with_replacement_match_randint() -> None:
    batches = batch_indices(
        10, 3, generator=torch.Generator().manual_seed(2), replacement=True
    )
    expected = torch.randint(10, (10,), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(torch.cat(batches), expected)
    assert [len(b) for b in batches] == [3, 3, 3, 1]


def test_batches_with_replacement_uniform() -> None:
    generator = torch.Generator().manual_seed(0)
    counts = torch.zeros(5)
    for _ in range(400):
        for batch in batch_indices(5, 5, generator=generator, replacement=True):
            counts += torch.bincount(batch, minlength=5)
    # 2000 draws: each count is 400 +- 18 (one standard deviation).
    assert (counts - 400).abs().max() < 90


def test_batches_generator_advances_between_epochs() -> None:
    generator = torch.Generator().manual_seed(0)
    first = torch.cat(batch_indices(20, 5, generator=generator))
    second = torch.cat(batch_indices(20, 5, generator=generator))
    assert not torch.equal(first, second)


def test_batches_same_seed_same_order() -> None:
    first = batch_indices(20, 5, generator=torch.Generator().manual_seed(7))
    second = batch_indices(20, 5, generator=torch.Generator().manual_seed(7))
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b)


def test_batches_device_argument() -> None:
    batches = batch_indices(6, 2, device="cpu")
    assert batches[0].device == torch.device("cpu")


def test_num_batches_counts() -> None:
    assert num_batches(10, 4) == 3
    assert num_batches(10, 4, drop_last=True) == 2
    assert num_batches(8, 4) == 2
    assert num_batches(8, 8) == 1


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((10, 0), {}, "batch_size must be a positive integer"),
        ((10, 2.5), {}, "batch_size must be a positive integer"),
        ((10, True), {}, "batch_size must be a positive integer"),
        ((0, 2), {}, "num_examples must be a positive integer"),
        ((10, 11), {}, "larger than the 10 examples"),
        ((10, 2), {"replacement": True, "shuffle": False}, "needs shuffle=True"),
    ],
)
def test_batches_reject_bad_argument(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        batch_indices(*args, **kwargs)


def test_iterate_batches_pairs_rows() -> None:
    x = torch.arange(10.0).reshape(10, 1)
    y = torch.arange(10) * 2
    for xb, yb in iterate_batches(x, y, 3, generator=torch.Generator().manual_seed(0)):
        torch.testing.assert_close(yb, xb.reshape(-1).long() * 2)


def test_iterate_batches_checks_at_call() -> None:
    with pytest.raises(ValueError, match="x has 4 examples but y has 3"):
        iterate_batches(torch.zeros(4, 1), torch.zeros(3), 2)


def test_train_batches_epoch(digits: Dataset) -> None:
    generator = torch.Generator().manual_seed(0)
    batches = list(digits.train_batches(500, generator=generator))
    assert [len(y) for _, y in batches] == [500, 500, 438]
    assert sum(len(y) for _, y in batches) == digits.num_train


def test_to_moves_copy(digits: Dataset) -> None:
    moved = digits.to("cpu")
    assert moved.device == torch.device("cpu")
    assert moved.num_train == digits.num_train


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_load_on_cuda() -> None:
    data = load_digits(device="cuda")
    assert data.x_train.is_cuda
    batch_x, _ = next(data.train_batches(32, generator=torch.Generator()))
    assert batch_x.is_cuda
