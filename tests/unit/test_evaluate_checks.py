"""``mlplab-eval``'s check of the network class a checkpoint names, before anything loads: the
advice follows why the class does not import (``mlplab.runtime.evaluate.check_net_importable``)."""

from __future__ import annotations

import pytest

from mlplab.errors import UserError
from mlplab.runtime.evaluate import check_net_importable


def refusal(target: str) -> str:
    with pytest.raises(UserError) as raised:
        check_net_importable({"model": {"net": {"_target_": target}}}, "/runs/a b/best.ckpt")
    return str(raised.value)


def test_a_class_of_mlplab_or_on_the_path_passes():
    check_net_importable({"model": {"net": {"_target_": "mlplab.nets.ConciseMLP"}}}, "x.ckpt")
    check_net_importable({"model": {}}, "x.ckpt")  # no network named: MLPModule's own default


@pytest.mark.parametrize("target", ["nowhere.Net", "json.nowhere.Net"])
def test_a_module_not_on_the_path_gets_the_pythonpath_command(target):
    assert refusal(target).endswith("put the folder of its module on PYTHONPATH, as for the run that "
                                    "wrote it: PYTHONPATH=<that folder> mlplab-eval "
                                    "ckpt_path='/runs/a b/best.ckpt'")


def test_a_class_gone_from_its_module_or_a_package_it_needs_is_not_a_pythonpath_matter(tmp_path, monkeypatch):
    (tmp_path / "needs_more.py").write_text("import no_such_package_here\n\nclass Net: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for target, why in [("mlplab.nets.Renamed", "AttributeError: module 'mlplab.nets' has no attribute"),
                        ("needs_more.Net", "ModuleNotFoundError: No module named 'no_such_package_here'")]:
        said = refusal(target)
        assert why in said and "PYTHONPATH" not in said
        assert said.endswith("the code here is not the code of the run that wrote it (the class moved, or "
                             "its module needs a package not installed here); run mlplab-eval where that "
                             "code and its packages are")


@pytest.mark.parametrize(("chosen", "trained_on"), [
    ("mlplab.data.synthetic.PolynomialDataModule", "fashion_mnist"),
    ("mlplab.data.fashion_mnist.FashionMNISTDataModule", "polynomial"),
])
def test_a_checkpoint_of_other_data_names_the_data_set_it_was_trained_on(chosen, trained_on):
    from mlplab.config.datasets import DATA
    from mlplab.errors import UserError
    from mlplab.runtime.evaluate import check_data_matches

    hparams = DATA[trained_on]().as_dict()
    with pytest.raises(UserError, match=rf"pick its data set: data={trained_on}$"):
        check_data_matches(chosen, hparams, "run/best.ckpt")
