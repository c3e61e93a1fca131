"""Model configs -> loaded models, looked up by id."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from gateway import context
from gateway.errors import ModelNotFound
from gateway.model import Model
from gateway.modelconfig import ModelConfig, load_model_configs
from gateway.settings import Settings

log = logging.getLogger(__name__)


class ModelRegistry:
    """The loaded models of one gateway process."""

    def __init__(self, models: list[Model]) -> None:
        self._models = {model.id: model for model in models}

    @classmethod
    def load(cls, configs: list[ModelConfig], settings: Settings) -> ModelRegistry:
        models = []
        runtime = settings.runtime()
        for config in configs:
            model = Model.load(config, runtime)
            if settings.warmup:
                model.warmup()
            log.info(
                "loaded model %s (%s) on %s", model.id, model.task.value, model.session.providers
            )
            models.append(model)
        return cls(models)

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelRegistry:
        return cls.load(load_model_configs(settings.config_path), settings)

    def get(self, model_id: str) -> Model:
        """The model with this id; the request being handled is noted as using it (its
        metrics and access log line name it: configured ids only, never what was asked)."""
        try:
            model = self._models[model_id]
        except KeyError:
            raise ModelNotFound(f"no model '{model_id}' is configured") from None
        context.note_model(model.id)
        return model

    def __iter__(self) -> Iterator[Model]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)
