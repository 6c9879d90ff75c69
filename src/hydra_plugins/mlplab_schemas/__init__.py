"""mlplab's schemas for Hydra's compose API. Hydra imports every module of the ``hydra_plugins``
namespace package when it starts (plugin discovery), before it composes a config; importing
``mlplab.config.store`` here puts mlplab's structured schemas (``_train_schema``,
``optimizer/_sgd``, …) and resolvers into Hydra's ConfigStore, so that
``initialize_config_dir(<mlplab's conf>)`` + ``compose("train")`` works in a fresh interpreter, as
Hydra documents the compose API, without importing mlplab first."""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

from mlplab.config import store  # noqa: F401 (the import registers the schemas and resolvers)


class MlplabSchemas(SearchPathPlugin):
    """A search-path plugin that adds no path: what matters is that Hydra imports this module."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        return None
