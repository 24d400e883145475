"""One frozen settings object in sections, built once (CLI) from defaults < YAML file < MONITOR_* env < explicit
overrides. The sections' models, defaults and descriptions live in `monitor.config.sections`.

`Settings` holds one model per section (`kafka`, `windows`, `detect`, `media`, `sources`, `alerts`, `ui`, `worker`,
`testing`); every field lives in exactly one section and its name is unique across sections, so each setting has two
equivalent spellings everywhere:

    settings.windows.window_s           settings.window_s                  (read)
    windows: {window_s: 300}            window_s: 300                      (YAML file)
    MONITOR_WINDOWS__WINDOW_S=300       MONITOR_WINDOW_S=300               (environment; JSON for lists and maps)
    Settings.load(windows={...})        Settings.load(window_s=300)        (overrides; also Settings(...))
    s.replace(window_s=300)             s.model_copy(update={"window_s": 300})

The environment is parsed by pydantic-settings (`EnvSettingsSource`: the `MONITOR_` prefix, the `__` delimiter, JSON
for complex values). Layers merge section by section and field by field; a field's value (a list, a keyword map)
is replaced whole by a later layer, never merged with it. Within one layer the sectioned spelling wins over the flat
one (`MONITOR_WINDOWS__WINDOW_S` over `MONITOR_WINDOW_S`); a YAML file or an override that names a setting both ways
is an error."""

from __future__ import annotations

import os
from collections.abc import Mapping
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, Field, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from monitor.config.sections import (
    SECTIONS,
    AlertsSettings,
    DetectSettings,
    KafkaSettings,
    Limits,
    MediaSettings,
    Section,
    SourcesSettings,
    TestingSettings,
    UiSettings,
    WindowsSettings,
    WorkerSettings,
)

__all__ = ["FLAT_FIELDS", "SECTIONS", "AlertsSettings", "DetectSettings", "KafkaSettings", "Limits", "MediaSettings",
           "Settings", "SourcesSettings", "TestingSettings", "UiSettings", "WindowsSettings", "WorkerSettings",
           "merge", "nest"]


def _owners() -> dict[str, str]:
    owner: dict[str, str] = {}
    for section, model in SECTIONS.items():
        for name in model.model_fields:
            if name in owner or name in SECTIONS:
                raise TypeError(f"setting {name!r} of section {section!r} is not unique: flat names would be ambiguous")
            owner[name] = section
    return owner


# flat setting name -> the section that owns it (every flat name is unique)
FLAT_FIELDS: dict[str, str] = _owners()


def _section_dict(section: str, value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):  # a section object: the fields it was given (derived ones are re-derived)
        return value.model_dump(exclude_unset=True)
    if not isinstance(value, Mapping):
        raise ValueError(f"section {section!r} must be a mapping, got {type(value).__name__}")
    return dict(value)


def nest(data: Mapping[str, Any]) -> dict[str, Any]:
    """Flat names to sections: {"window_s": 300, "kafka": {...}} -> {"windows": {"window_s": 300}, "kafka": {...}}.
    Unknown keys stay where they are (validation names them); a setting given both ways is an error."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS:
            out[key] = {**out.get(key, {}), **_section_dict(key, value)}
    for key, value in data.items():
        section = FLAT_FIELDS.get(key)
        if section is None:
            if key not in SECTIONS:
                out[key] = value
            continue
        if key in out.setdefault(section, {}):
            raise ValueError(f"setting {key!r} given twice: as {key} and as {section}.{key}")
        out[section][key] = value
    return out


def _model_field(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    field = model.model_fields.get(name)
    ann = field.annotation if field else None
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def merge(model: type[BaseModel], base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """`update` over `base`: models (sections, limits) merge field by field; any other value (a list, a keyword
    map) is replaced whole."""
    out = dict(base)
    for key, value in update.items():
        sub = _model_field(model, key)
        if sub is not None and isinstance(out.get(key), Mapping) and isinstance(value, Mapping):
            out[key] = merge(sub, out[key], value)
        else:
            out[key] = value
    return out


class _Env(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (`Settings.load(env=...)`), not os.environ
    (`_load_env_vars` is the hook its own dotenv source overrides)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._env = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.case_sensitive:
            return dict(self._env)
        return {k.lower(): v for k, v in self._env.items()}


class _FlatEnv(_Env):
    """MONITOR_<NAME> for every setting of every section (the spelling before sections): {section: {name: value}}."""

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for section, model in SECTIONS.items():
            for name, field in model.model_fields.items():
                value, _key, is_complex = self.get_field_value(field, name)
                if value is None:
                    continue
                try:
                    out.setdefault(section, {})[name] = self.prepare_field_value(name, field, value, is_complex)
                except ValueError as e:
                    raise SettingsError(f"MONITOR_{name.upper()}: not a valid value for {section}.{name} ({e})") from e
        return out


class _Yaml(PydanticBaseSettingsSource):
    """A YAML file, flat or by section (or both for different settings)."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads the whole file

    def __call__(self) -> dict[str, Any]:
        if not self.path:
            return {}
        loaded = yaml.safe_load(Path(self.path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{self.path}: config must be a mapping")
        return nest(loaded)


def _doc(section: type[Section]) -> str:
    return " ".join((section.__doc__ or "").split())


class Settings(BaseSettings):
    """Every setting of the worker, demo and tools, in sections (see the module docstring for the two spellings).

    `Settings(...)` is the defaults plus its arguments; `Settings.load()` adds the YAML file and the environment."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix="MONITOR_", env_nested_delimiter="__",
                                      case_sensitive=False)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings, description=_doc(KafkaSettings))
    windows: WindowsSettings = Field(default_factory=WindowsSettings, description=_doc(WindowsSettings))
    detect: DetectSettings = Field(default_factory=DetectSettings, description=_doc(DetectSettings))
    media: MediaSettings = Field(default_factory=MediaSettings, description=_doc(MediaSettings))
    sources: SourcesSettings = Field(default_factory=SourcesSettings, description=_doc(SourcesSettings))
    alerts: AlertsSettings = Field(default_factory=AlertsSettings, description=_doc(AlertsSettings))
    ui: UiSettings = Field(default_factory=UiSettings, description=_doc(UiSettings))
    worker: WorkerSettings = Field(default_factory=WorkerSettings, description=_doc(WorkerSettings))
    testing: TestingSettings = Field(default_factory=TestingSettings, description=_doc(TestingSettings))

    if TYPE_CHECKING:  # the flat names (settings.window_s): properties added below, one per setting
        def __getattr__(self, name: str) -> Any: ...

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Settings(...) never reads the process environment (tests and tools build it from arguments);
        # Settings.load layers the file and the environment itself, in a fixed and visible order
        return (init_settings,)

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        return nest(data) if isinstance(data, Mapping) else data

    @classmethod
    def load(cls, path: str | Path | None = None, env: Mapping[str, str] | None = None,
             **overrides: Any) -> Settings:
        """defaults < YAML file (`path`, else MONITOR_CONFIG) < environment (`env`, default os.environ; flat
        MONITOR_<NAME> < MONITOR_<SECTION>__<NAME>) < `overrides` (flat or by section; None means not given)."""
        env = os.environ if env is None else env
        layers = (
            _Yaml(cls, path or env.get("MONITOR_CONFIG"))(),
            _FlatEnv(cls, env)(),
            _Env(cls, env)(),  # MONITOR_<SECTION>__<NAME> and MONITOR_<SECTION> (a JSON object)
            nest({k: v for k, v in overrides.items() if v is not None}),
        )
        data: dict[str, Any] = {}
        for layer in layers:
            data = merge(cls, data, layer)
        return cls(**data)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Settings:
        """pydantic's model_copy (no validation), with flat names or sections in `update` going into the section
        that owns them. Prefer `replace`, which validates."""
        if not update:
            return super().model_copy(deep=deep)
        sections: dict[str, Any] = {}
        for key, value in nest(update).items():
            if key not in SECTIONS:
                raise ValueError(f"unknown setting {key!r}")
            current: Section = getattr(self, key)
            sections[key] = value if isinstance(value, Section) else current.model_copy(update=value, deep=deep)
        return super().model_copy(update=sections, deep=deep)

    def replace(self, **updates: Any) -> Settings:
        """A validated copy with `updates` (flat names or sections); derived values (hop_* from window_s) are
        derived again unless they were set."""
        return type(self).model_validate(merge(type(self), self.model_dump(exclude_unset=True), nest(updates)))

    def kafka_python_kwargs(self) -> dict[str, Any]:
        """Security settings for kafka-python clients (admin, producer, consumer)."""
        k = self.kafka
        kw: dict[str, Any] = {"security_protocol": k.security_protocol}
        if k.security_protocol.startswith("SASL"):
            kw.update(sasl_mechanism=k.sasl_mechanism or "PLAIN", sasl_plain_username=k.sasl_username,
                      sasl_plain_password=k.sasl_password)
        if k.security_protocol.endswith("SSL"):
            kw.update(ssl_cafile=k.ssl_cafile, ssl_certfile=k.ssl_certfile, ssl_keyfile=k.ssl_keyfile)
        return kw

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Security settings for aiokafka clients (the outputs producer, the topic followers)."""
        k = self.kafka
        return {"security_protocol": k.security_protocol, "sasl_mechanism": k.sasl_mechanism or "PLAIN",
                "sasl_plain_username": k.sasl_username, "sasl_plain_password": k.sasl_password,
                "ssl_context": self.ssl_context()}

    def ssl_context(self) -> Any:
        import ssl

        k = self.kafka
        if not k.security_protocol.endswith("SSL"):
            return None
        ctx = ssl.create_default_context(cafile=k.ssl_cafile)
        if k.ssl_certfile:
            ctx.load_cert_chain(k.ssl_certfile, k.ssl_keyfile)
        return ctx


for _name, _section in FLAT_FIELDS.items():  # settings.window_s == settings.windows.window_s
    setattr(Settings, _name, property(attrgetter(f"{_section}.{_name}"),
                                      doc=f"{_section}.{_name}: {SECTIONS[_section].model_fields[_name].description}"))
del _name, _section
