"""dataset stage."""

#: direction → (input image kind, target image kind)
DIRECTIONS: dict[str, tuple[str, str]] = {"edd2lacbed": ("edd", "lacbed"), "lacbed2edd": ("lacbed", "edd")}
#: the channels of the EDD side of a model (config ``train.input`` / ``train.target``): the total
#: projected density, the deformation density ρ − ρ_IAM, or both (two channels, in this order)
EDD_CHANNELS: dict[str, tuple[str, ...]] = {"edd": ("edd",), "deformation": ("deformation",), "both": ("edd", "deformation")}


def channel_kinds(direction: str, input: str = "edd", target: str = "edd") -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(input kinds, target kinds) of a model, one image kind per channel.

    ``input`` chooses the EDD-side channels when the EDD side is the model's input (``edd2lacbed``),
    ``target`` when it is the target (``lacbed2edd``); the LACBED side is always one channel.
    """
    from ..errors import ConfigError, InputError

    if direction not in DIRECTIONS:
        raise InputError(f"unknown direction {direction!r}; expected one of {sorted(DIRECTIONS)}", field="direction")
    for name, value in (("input", input), ("target", target)):
        if value not in EDD_CHANNELS:
            raise ConfigError(f"value {value!r} is invalid; expected one of {sorted(EDD_CHANNELS)}", field=f"train.{name}")
    source, goal = DIRECTIONS[direction]
    inputs = EDD_CHANNELS[input] if source == "edd" else (source,)
    targets = EDD_CHANNELS[target] if goal == "edd" else (goal,)
    return inputs, targets


def direction_kinds(direction: str) -> tuple[str, str]:
    """(input kind, target kind) of ``direction`` (the first channel of each side); a clear error
    for an unknown one (:func:`channel_kinds`)."""
    inputs, targets = channel_kinds(direction)
    return inputs[0], targets[0]
