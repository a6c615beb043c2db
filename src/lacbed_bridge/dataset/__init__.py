"""dataset stage."""

#: direction → (input image kind, target image kind)
DIRECTIONS: dict[str, tuple[str, str]] = {"edd2lacbed": ("edd", "lacbed"), "lacbed2edd": ("lacbed", "edd")}
