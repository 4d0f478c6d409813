import aiotrainer


def test_all_is_sorted_and_importable() -> None:
    names = [n for n in aiotrainer.__all__ if n != "__version__"]
    assert names == sorted(names)
    for name in aiotrainer.__all__:
        assert hasattr(aiotrainer, name), name


def test_all_lists_every_public_class_imported() -> None:
    public = {
        n
        for n, v in vars(aiotrainer).items()
        if not n.startswith("_") and isinstance(v, type)
    }
    assert public <= set(aiotrainer.__all__)
