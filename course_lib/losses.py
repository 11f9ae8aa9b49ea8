"""Loss functions written from torch primitives, with torch.nn.functional's API.

Each function has the name, arguments, values and gradients of its
``torch.nn.functional`` twin (PyTorch 2.x): ``mse_loss``, ``l1_loss``,
``huber_loss``, ``binary_cross_entropy``, ``binary_cross_entropy_with_logits``
and ``cross_entropy``. The math is spelled out with elementwise operations so
a learner can read it, and it stays finite for logits of +-1000 and for
probabilities of exactly 0 and 1.

Where this module is stricter than torch:

- ``input`` and ``target`` of different shapes raise ``ValueError``. torch's
  regression losses only warn and then broadcast, so a ``(N, 1)`` prediction
  against an ``(N,)`` target averages N * N differences instead of N errors.
- Class indices outside ``[0, C - 1]`` and probabilities outside ``[0, 1]``
  raise ``ValueError`` naming the bad value.
- The deprecated ``size_average`` and ``reduce`` arguments do not exist, so
  the arguments that follow them in torch are keyword-only here.

Every ``reduction`` is one of ``"mean"`` (the average over the elements),
``"sum"`` and ``"none"`` (the unreduced loss, with the input's shape less
the class dimension). Where a weight applies, each function's docstring
gives how it enters the mean, because torch is not uniform there.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "l1_loss",
    "log_softmax",
    "mse_loss",
    "softplus",
]

REDUCTIONS = ("mean", "sum", "none")

# torch.nn.functional.binary_cross_entropy clamps each log at -100, so a
# probability of exactly 0 or 1 costs at most 100 per element instead of inf.
LOG_CLAMP = -100.0

# The floor torch puts under p * (1 - p) in the gradient of binary cross
# entropy (EPSILON in ATen's Loss.cpp), so p = 0 or 1 gives +-1e12, not inf.
BCE_GRAD_EPSILON = 1e-12


# -- argument checks ---------------------------------------------------------


def _check_reduction(function: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{function}: reduction must be one of {', '.join(map(repr, REDUCTIONS))}, "
            f"got {reduction!r}"
        )


def _check_same_shape(function: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        raise ValueError(
            f"{function}: input shape {tuple(input.shape)} and target shape "
            f"{tuple(target.shape)} differ; reshape one of them (for example "
            "with .squeeze(-1) or .view_as()) so they match, because "
            "broadcasting would compare every prediction with every target"
        )


def _check_weight_same_shape(function: str, weight: Tensor, input: Tensor) -> None:
    if weight.shape != input.shape:
        raise ValueError(
            f"{function}: weight shape {tuple(weight.shape)} and input shape "
            f"{tuple(input.shape)} differ; the weight must have the input's shape"
        )


def _check_broadcasts_to(
    function: str, name: str, value: Tensor, input: Tensor
) -> None:
    try:
        shape = torch.broadcast_shapes(value.shape, input.shape)
    except RuntimeError:
        shape = None
    if shape != input.shape:
        raise ValueError(
            f"{function}: {name} shape {tuple(value.shape)} does not broadcast "
            f"to the input shape {tuple(input.shape)}"
        )


def _check_floating(function: str, name: str, value: Tensor) -> None:
    if not value.is_floating_point():
        raise TypeError(
            f"{function}: {name} must be a floating-point tensor, got dtype "
            f"{value.dtype}; convert it with .float() or .double()"
        )


def _check_unit_interval(function: str, name: str, value: Tensor) -> None:
    # NaN fails both comparisons, so it is reported as out of range too.
    outside = ~((value >= 0) & (value <= 1))
    if bool(outside.any()):
        bad = value.detach()[outside].flatten()[0].item()
        raise ValueError(
            f"{function}: every element of {name} must be a probability in "
            f"[0, 1], found {bad}; pass raw scores to "
            "binary_cross_entropy_with_logits instead"
        )


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# -- stable building blocks --------------------------------------------------


def softplus(x: Tensor) -> Tensor:
    """Compute log(1 + exp(x)) elementwise without overflow.

    This is the log-sum-exp of (0, x) shifted by m = max(0, x):
    m + log(exp(-m) + exp(x - m)). Both exponents are at most 0, so nothing
    overflows, and the sum is at least 1, so the log stays finite. The shift
    is detached because the result does not depend on it, which leaves the
    exact gradient sigmoid(x), including at the kink of max(0, x).
    """
    shift = x.detach().clamp(min=0)
    return shift + torch.log(torch.exp(-shift) + torch.exp(x - shift))


def log_softmax(x: Tensor, dim: int) -> Tensor:
    """Compute log(softmax(x)) along ``dim`` with the max subtracted first.

    log softmax(x)_j = (x_j - m) - log(sum_k exp(x_k - m)) for m = max_k x_k,
    so the largest exponent is 0 and logits of +-1000 stay finite. The max is
    detached because the result does not depend on it, and its gradient
    would only cancel out.
    """
    shifted = x - x.detach().amax(dim=dim, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


# -- regression losses ---------------------------------------------------------


def _weighted_reduce(loss: Tensor, weight: Tensor | None, reduction: str) -> Tensor:
    """Reduce as torch's mse_loss and l1_loss do: sum(w * l) / sum(w) for mean."""
    if weight is None:
        return _reduce(loss, reduction)
    weighted = loss * weight
    if reduction == "mean":
        return weighted.sum() / weight.sum()
    return _reduce(weighted, reduction)


def mse_loss(
    input: Tensor,
    target: Tensor,
    *,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error: the average of (input - target) ** 2.

    Args:
        input: predictions, any shape.
        target: targets of the same shape.
        reduction: "mean", "sum" or "none".
        weight: optional per-element weights of the input's shape; "mean" then
            returns sum(w * l) / sum(w), as torch does.

    Raises:
        ValueError: the shapes differ, or ``reduction`` is unknown.
    """
    _check_reduction("mse_loss", reduction)
    _check_same_shape("mse_loss", input, target)
    if weight is not None:
        _check_weight_same_shape("mse_loss", weight, input)
    loss = (input - target) ** 2
    return _weighted_reduce(loss, weight, reduction)


def l1_loss(
    input: Tensor,
    target: Tensor,
    *,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean absolute error: the average of |input - target|.

    The gradient at input == target is 0, torch's subgradient of |x| at 0.
    Arguments and errors are those of :func:`mse_loss`.
    """
    _check_reduction("l1_loss", reduction)
    _check_same_shape("l1_loss", input, target)
    if weight is not None:
        _check_weight_same_shape("l1_loss", weight, input)
    loss = torch.abs(input - target)
    return _weighted_reduce(loss, weight, reduction)


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """Huber loss: squared error for small errors, linear for large ones.

    For the error d = input - target,

        l(d) = d**2 / 2                  if |d| < delta
        l(d) = delta * (|d| - delta / 2) otherwise,

    so the two pieces meet with equal value and slope at |d| = delta, and an
    outlier's gradient is at most delta in size.

    Args:
        input: predictions, any shape.
        target: targets of the same shape.
        reduction: "mean", "sum" or "none".
        delta: the error size, in the target's units, where the loss turns
            linear; it must be positive.
        weight: optional per-element weights of the input's shape. Unlike
            mse_loss, torch's huber_loss (2.x) then takes "mean" as the plain
            average of w * l, not divided by sum(w), and so does this one.

    Raises:
        ValueError: the shapes differ, ``delta`` is not positive, or
            ``reduction`` is unknown.
    """
    _check_reduction("huber_loss", reduction)
    _check_same_shape("huber_loss", input, target)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    if weight is not None:
        _check_weight_same_shape("huber_loss", weight, input)

    error = input - target
    absolute = torch.abs(error)
    loss = torch.where(
        absolute < delta, 0.5 * error**2, delta * (absolute - 0.5 * delta)
    )

    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# -- binary classification ---------------------------------------------------------


class _BinaryCrossEntropyElements(torch.autograd.Function):
    """Elementwise -(t log p + (1 - t) log(1 - p)) with torch's clamps.

    Autograd through the clamped logs would give 0 * inf = NaN at p = 0 or 1,
    so the backward pass is written out: torch's formula for p, and for t the
    exact derivative of the clamped forward value.
    """

    @staticmethod
    def forward(ctx, probability: Tensor, target: Tensor) -> Tensor:  # type: ignore[override]
        log_p = torch.log(probability).clamp(min=LOG_CLAMP)
        log_not_p = torch.log1p(-probability).clamp(min=LOG_CLAMP)
        ctx.save_for_backward(probability, target)
        return -(target * log_p + (1 - target) * log_not_p)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, Tensor | None]:  # type: ignore[override]
        probability, target = ctx.saved_tensors
        grad_probability = grad_target = None

        # dl/dp = (p - t) / (p (1 - p)), with torch's floor under p (1 - p).
        if ctx.needs_input_grad[0]:
            variance = (probability * (1 - probability)).clamp(min=BCE_GRAD_EPSILON)
            grad_probability = grad_output * (probability - target) / variance

        # dl/dt = log(1 - p) - log p with both logs clamped. torch (2.x) leaves
        # these logs unclamped here and returns +-inf at p = 0 or 1.
        if ctx.needs_input_grad[1]:
            log_p = torch.log(probability).clamp(min=LOG_CLAMP)
            log_not_p = torch.log1p(-probability).clamp(min=LOG_CLAMP)
            grad_target = grad_output * (log_not_p - log_p)

        return grad_probability, grad_target


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross-entropy between predicted probabilities and targets.

    l = -w (t log p + (1 - t) log(1 - p)), with each log clamped at -100 as
    torch does, so p = 0 or p = 1 gives a finite loss (at most 100) and a
    finite gradient (at most 1e12 in size).

    Args:
        input: predicted probabilities p in [0, 1], any shape.
        target: targets t in [0, 1] (usually the labels 0 and 1), same shape.
        weight: optional rescaling weight that broadcasts to the input's shape.
        reduction: "mean", "sum" or "none"; "mean" is the plain average of
            the weighted elements, as in torch.

    Raises:
        ValueError: the shapes differ, a probability or target lies outside
            [0, 1], ``weight`` does not broadcast, or ``reduction`` is unknown.
    """
    name = "binary_cross_entropy"
    _check_reduction(name, reduction)
    _check_same_shape(name, input, target)
    _check_floating(name, "input", input)
    _check_unit_interval(name, "input", input)
    _check_unit_interval(name, "target", target)
    if weight is not None:
        _check_broadcasts_to(name, "weight", weight, input)

    loss = _BinaryCrossEntropyElements.apply(input, target.to(input.dtype))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy on logits, with p = sigmoid(input) never formed.

    For a logit x, target t and positive-class weight c (``pos_weight``),

        l = -w (c t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))
          = w ((1 - t) x + (1 + (c - 1) t) softplus(-x)),

    because log sigmoid(x) = -softplus(-x) and log(1 - sigmoid(x)) =
    -x - softplus(-x). softplus is computed without overflow, so logits of
    +-1000 give finite losses and gradients.

    Args:
        input: logits (raw scores), any shape.
        target: targets in [0, 1], same shape.
        weight: optional rescaling weight that broadcasts to the input's shape.
        reduction: "mean", "sum" or "none".
        pos_weight: optional weight of the positive examples, broadcast along
            the input's last dimension (one entry per class), as in torch.

    Raises:
        ValueError: the shapes differ, ``weight`` or ``pos_weight`` does not
            broadcast, or ``reduction`` is unknown.
    """
    name = "binary_cross_entropy_with_logits"
    _check_reduction(name, reduction)
    _check_same_shape(name, input, target)
    _check_floating(name, "input", input)
    if weight is not None:
        _check_broadcasts_to(name, "weight", weight, input)
    if pos_weight is not None:
        _check_broadcasts_to(name, "pos_weight", pos_weight, input)

    target = target.to(input.dtype)
    if pos_weight is None:
        coefficient = 1.0
    else:
        coefficient = 1 + (pos_weight - 1) * target
    loss = (1 - target) * input + coefficient * softplus(-input)

    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# -- multi-class classification ------------------------------------------------------


def _class_view(weight: Tensor, input: Tensor, class_dim: int) -> Tensor:
    """Reshape a (C,) weight to broadcast along the input's class dimension."""
    shape = [1] * input.dim()
    shape[class_dim] = -1
    return weight.view(shape)


def _check_class_indices(target: Tensor, num_classes: int, ignore_index: int) -> Tensor:
    """Return the mask of targets not equal to ``ignore_index``, after a range check."""
    kept = target != ignore_index
    out_of_range = kept & ((target < 0) | (target >= num_classes))
    if bool(out_of_range.any()):
        bad = int(target[out_of_range].flatten()[0].item())
        raise ValueError(
            f"cross_entropy: target contains class index {bad}, outside the valid "
            f"range [0, {num_classes - 1}] for {num_classes} classes "
            f"(ignore_index={ignore_index} is also accepted)"
        )
    return kept


def _cross_entropy_indices(
    log_probs: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    class_dim: int,
) -> Tensor:
    num_classes = log_probs.shape[class_dim]
    kept = _check_class_indices(target, num_classes, ignore_index)
    safe_target = torch.where(kept, target, torch.zeros_like(target))

    # Negative log-likelihood of the true class, weighted by w[y]; an ignored
    # element costs 0 and weighs 0 in the mean.
    true_log_prob = log_probs.gather(class_dim, safe_target.unsqueeze(class_dim))
    true_log_prob = true_log_prob.squeeze(class_dim)
    if weight is None:
        true_weight = kept.to(log_probs.dtype)
    else:
        true_weight = weight[safe_target] * kept
    nll = torch.where(kept, -true_weight * true_log_prob, 0.0)

    loss = nll
    if label_smoothing > 0:
        # The smoothed target puts 1 - eps + eps / C on the true class and
        # eps / C on each class, so the loss adds eps / C * sum_c -w_c log p_c.
        weighted_log_probs = log_probs
        if weight is not None:
            weighted_log_probs = log_probs * _class_view(weight, log_probs, class_dim)
        smooth = torch.where(kept, -weighted_log_probs.sum(dim=class_dim), 0.0)
        loss = (1 - label_smoothing) * nll + label_smoothing / num_classes * smooth

    if reduction == "mean":
        # torch divides by the total weight of the kept targets (their count
        # without a weight), so a batch of only ignored targets gives NaN.
        return loss.sum() / true_weight.sum()
    return _reduce(loss, reduction)


def _cross_entropy_probabilities(
    log_probs: Tensor,
    target: Tensor,
    weight: Tensor | None,
    reduction: str,
    label_smoothing: float,
    class_dim: int,
) -> Tensor:
    num_classes = log_probs.shape[class_dim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / num_classes
    weighted_log_probs = log_probs
    if weight is not None:
        weighted_log_probs = log_probs * _class_view(weight, log_probs, class_dim)
    loss = -(target * weighted_log_probs).sum(dim=class_dim)

    if reduction == "mean":
        # The average over the examples (and extra dimensions), unweighted.
        return loss.sum() / (log_probs.numel() // num_classes)
    return _reduce(loss, reduction)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between logits and class indices or class probabilities.

    With p = softmax(input) along the class dimension, the loss of one example
    is -w[y] log p[y] for a class index y, and -sum_c w[c] t[c] log p[c] for
    a probability target t. log p comes from :func:`log_softmax`, so logits of
    +-1000 give finite losses and gradients.

    Args:
        input: logits of shape (C,), (N, C) or (N, C, d1, ...); the class
            dimension is 0 for (C,) and 1 otherwise.
        target: class indices or class probabilities. Class indices are an
            integer tensor of the input's shape without the class dimension
            ((), (N,) or (N, d1, ...)), each in [0, C - 1] or equal to
            ``ignore_index``. Class probabilities are a floating-point
            tensor of the input's shape.
        weight: optional (C,) tensor of per-class weights.
        ignore_index: a class-index target with this value adds nothing to
            the loss or to the weight of the mean. Probability targets do not
            accept it (leave the default -100).
        reduction: "mean", "sum" or "none". For class indices, "mean"
            divides by the summed weight w[y] of the kept targets. For
            probabilities, it divides by the number of examples (N * d1 * ...).
        label_smoothing: eps in [0, 1]; the target becomes (1 - eps) times
            the one-hot or given target plus eps / C on every class.

    Raises:
        ValueError: the input has no class dimension, the target's shape does
            not fit the input's, a class index is out of range, ``weight`` is
            not of shape (C,), ``label_smoothing`` is outside [0, 1],
            ``ignore_index`` is set with probability targets, or
            ``reduction`` is unknown.
    """
    name = "cross_entropy"
    _check_reduction(name, reduction)
    _check_floating(name, "input", input)
    if input.dim() == 0:
        raise ValueError(
            "cross_entropy: input must have a class dimension, shape (C,), (N, C) "
            "or (N, C, d1, ...), got a 0-dimensional tensor"
        )
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}"
        )

    class_dim = 0 if input.dim() == 1 else 1
    num_classes = input.shape[class_dim]
    if weight is not None and weight.shape != (num_classes,):
        raise ValueError(
            f"cross_entropy: weight shape {tuple(weight.shape)} must be "
            f"({num_classes},), one weight per class"
        )

    log_probs = log_softmax(input, dim=class_dim)

    if target.is_floating_point():
        if target.shape != input.shape:
            raise ValueError(
                "cross_entropy: a floating-point target is read as class "
                f"probabilities and must have the input shape "
                f"{tuple(input.shape)}, got {tuple(target.shape)}; pass class "
                "indices as an integer tensor"
            )
        if ignore_index != -100:
            raise ValueError(
                "cross_entropy: ignore_index applies to class-index targets only, "
                f"got ignore_index={ignore_index} with probability targets"
            )
        return _cross_entropy_probabilities(
            log_probs, target, weight, reduction, label_smoothing, class_dim
        )

    if target.dtype == torch.bool or target.is_complex():
        raise TypeError(
            "cross_entropy: class indices must be an integer tensor, got "
            f"{target.dtype}"
        )
    expected = input.shape[:class_dim] + input.shape[class_dim + 1 :]
    if target.shape != expected:
        raise ValueError(
            f"cross_entropy: class-index target shape {tuple(target.shape)} does "
            f"not fit the input shape {tuple(input.shape)}; expected "
            f"{tuple(expected)}, the input's shape without the class dimension"
        )
    return _cross_entropy_indices(
        log_probs,
        target.long(),
        weight,
        ignore_index,
        reduction,
        label_smoothing,
        class_dim,
    )
