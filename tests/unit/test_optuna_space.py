"""The Optuna sweeper's search space holds the values Hydra's own sweep of the same override would
run: ``choice`` and shuffled ranges as categories, ``range`` with its stop excluded, ``interval``
with ``tag(log, …)``."""

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from mlplab.errors import ConfigError
from mlplab.sweeps.optuna_sweeper import search_space


def hydra_values(argument: str) -> list:
    (override,) = OverridesParser.create().parse_overrides([argument])
    return list(override.sweep_iterator())


def grid(distribution) -> list:
    """Every value a stepped distribution can draw."""
    count = round((distribution.high - distribution.low) / distribution.step) + 1
    return [distribution.low + k * distribution.step for k in range(count)]


def test_a_float_range_optuna_cannot_step_exactly_is_drawn_from_its_values():
    (distribution,) = search_space(["regularizer.weight_decay=range(0.1,0.2,0.03)"])[0].values()
    assert isinstance(distribution, (CategoricalDistribution, FloatDistribution))
    stepped = isinstance(distribution, FloatDistribution)
    values = grid(distribution) if stepped else sorted(distribution.choices)
    assert values == pytest.approx(hydra_values("regularizer.weight_decay=range(0.1,0.2,0.03)"))


@pytest.mark.parametrize(("argument", "kind"), [
    ("regularizer.dropout=range(0.0,0.6,0.2)", FloatDistribution),  # 0, 0.2, 0.4: never 0.6
    ("regularizer.dropout=range(0.0,1.0,0.25)", FloatDistribution),  # never p = 1, which is refused
    ("regularizer.weight_decay=range(1e-4,1e-3,3e-4)", FloatDistribution),  # Hydra's float steps reach 1e-3
    ("regularizer.dropout=range(0.5,0.0,-0.25)", FloatDistribution),
    ("regularizer.dropout=range(0.0,1.0,0.3)", FloatDistribution),  # Hydra's 0.8999999999999999: 0.9 kept
    ("regularizer.dropout=range(1.0,0.0,-0.3)", FloatDistribution),  # 1.0 kept
    ("regularizer.dropout=range(0.9,0.0,-0.3)", FloatDistribution),  # Hydra's 5.6e-17 for 0
    ("model.net.hidden.0=range(32,257,32)", IntDistribution),
    ("trainer.max_epochs=range(1,10,4)", IntDistribution),
    ("trainer.max_epochs=range(10,0,-3)", IntDistribution)])
def test_a_range_draws_exactly_the_values_hydras_sweep_runs(argument, kind):
    space, fixed = search_space([argument])
    (distribution,) = space.values()
    assert isinstance(distribution, kind) and fixed == []
    assert grid(distribution) == pytest.approx(sorted(hydra_values(argument)), abs=1e-12)


def test_a_range_that_stops_where_it_starts_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"regularizer.dropout=range\(0.5,0.5,0.1\) holds no value"):
        search_space(["regularizer.dropout=range(0.5,0.5,0.1)"])


def test_choices_intervals_and_fixed_values():
    space, fixed = search_space(["optimizer=sgd,adamw", "optimizer.lr=tag(log,interval(1e-3,1))",
                                 "regularizer.dropout=interval(0,0.5)", "trainer.max_epochs=3",
                                 "seed=shuffle(range(0,3))", "model.net.hidden=[64,64],[128]"])
    assert space["optimizer"] == CategoricalDistribution(["sgd", "adamw"])
    assert space["optimizer.lr"] == FloatDistribution(1e-3, 1.0, log=True)
    assert space["regularizer.dropout"] == FloatDistribution(0.0, 0.5)
    assert sorted(space["seed"].choices) == [0, 1, 2]
    assert space["model.net.hidden"] == CategoricalDistribution(["[64,64]", "[128]"])
    assert fixed == ["trainer.max_epochs=3"]


def test_a_fixed_value_on_the_command_line_replaces_the_presets_search_of_that_key():
    """As in Hydra's Optuna sweeper: ``params`` come first, the command line after; the later one
    of a key wins, a fixed value included (p stays 0.3, not drawn)."""
    params = ["regularizer.dropout=interval(0,0.6)", "regularizer.weight_decay=tag(log,interval(1e-5,1e-2))"]
    space, fixed = search_space([*params, "regularizer.dropout=0.3", "trainer.max_epochs=2"])
    assert list(space) == ["regularizer.weight_decay"]
    assert fixed == ["regularizer.dropout=0.3", "trainer.max_epochs=2"]
    space, fixed = search_space(["regularizer.dropout=0.3", "regularizer.dropout=interval(0,0.6)"])
    assert list(space) == ["regularizer.dropout"] and fixed == []


def test_a_stored_study_of_another_search_is_refused_and_the_same_search_continues():
    """One study holds one search: its fixed overrides and space are kept with it (a user attribute);
    another search given the same storage and name is refused by what differs, not continued."""
    import optuna

    from mlplab.sweeps.optuna_sweeper import check_same_search, search_identity

    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), study_name="mlplab")
    space, fixed = search_space(["regularizer.dropout=interval(0,0.6)", "model.net.hidden=[16]",
                                 "paths.log_dir=/a"])
    check_same_search(study, search_identity(space, fixed), "memory", space)  # new: takes this search
    space, fixed = search_space(["regularizer.dropout=interval(0,0.6)", "model.net.hidden=[16]",
                                 "paths.log_dir=/b", "retry_failed=true"])  # where it writes: the same
    check_same_search(study, search_identity(space, fixed), "memory", space)
    space, fixed = search_space(["regularizer.dropout=interval(0,0.5)", "model.net.hidden=[8]"])
    with pytest.raises(ConfigError) as err:
        check_same_search(study, search_identity(space, fixed), "memory", space)
    assert str(err.value) == (
        "hydra.sweeper.study_name=mlplab in memory holds another search (it has model.net.hidden=[16] "
        "regularizer.dropout~FloatDistribution(high=0.6, log=False, low=0.0, step=None); this one has "
        "model.net.hidden=[8] regularizer.dropout~FloatDistribution(high=0.5, log=False, low=0.0, "
        "step=None)); "
        "give this one its own name, e.g. hydra.sweeper.study_name=mlplab-2, or continue that one with its "
        "own command")


def test_a_study_made_before_searches_were_recorded_is_kept_only_for_the_space_its_trials_drew_from():
    import optuna

    from mlplab.sweeps.optuna_sweeper import SEARCH, check_same_search, search_identity

    space, fixed = search_space(["regularizer.dropout=interval(0,0.6)"])
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), study_name="mlplab")
    study.tell(study.ask(space), 0.8)  # a trial of an older mlplab: no record of its search
    other, _ = search_space(["regularizer.weight_decay=interval(0,0.1)"])
    with pytest.raises(ConfigError, match="its trials drew from another space than this one's"):
        check_same_search(study, search_identity(other, fixed), "memory", other)
    assert SEARCH not in study.user_attrs
    check_same_search(study, search_identity(space, fixed), "memory", space)  # its own space: adopted
    assert study.user_attrs[SEARCH] == search_identity(space, fixed)
