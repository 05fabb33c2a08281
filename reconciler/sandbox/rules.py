"""The serializers' checks beyond single fields, in DRF's order: field validators that need more
than the value (`validate_<field>`), then unique-together validators, then `validate()`. Which kind
has which rule, with which message, is profile data (`object_rules` in `recorded/<version>.json`);
this module only knows what each kind of rule does."""
from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.model.kinds import Kind
from reconciler.values import Json, ObjectId

from . import certificates, files
from .lifecycle import Lifecycle
from .profile import ObjectRule, Profile
from .store import Store

ENTERPRISE_ERROR = "Enterprise is required to create/update this object."
"""2026.2.2 kinds/03, kinds/18 and flows/193, 195: kinds whose type says `requires_enterprise` pass
field validation and are then refused without a licence."""
UNIQUE_TOGETHER = "The fields {fields} must make a unique set."  # DRF's UniqueTogetherValidator (flows 77, 240)


class ServerFault(Exception):
    """The request makes the server's own code fail (a KeyError or AttributeError in validate()):
    answered with the 405 server-error quirk (flows 138, 142, 251)."""


@dataclass(frozen=True)
class Rules:
    store: Store
    profile: Profile
    enterprise: bool

    @property
    def lifecycle(self) -> Lifecycle:
        """The lifecycle rules' checks (content types, reviewers, grace periods)."""
        return Lifecycle(self.store, self.profile)

    # -- validate_<field> -----------------------------------------------------------------------
    def field_error(self, kind: Kind, name: str, value: Any, body: Mapping[str, Json],
                    instance: ObjectId | None) -> str | None:
        """The error a field's own validator method gives a cleaned value, if any."""
        for rule in self.profile.rules_of(kind.name):
            error = self.rule_error(rule, kind, name, value, body, instance) if name in rule.fields else None
            if error:
                return error
        return None

    def rule_error(self, rule: ObjectRule, kind: Kind, name: str, value: Any, body: Mapping[str, Json],
                   instance: ObjectId | None) -> str | None:
        """The error of one field rule: the rules that need the store or the request here, the
        checks of the value alone from `VALUE_CHECKS`."""
        if rule.rule in STATEFUL_RULES:
            return self.stateful_error(rule, kind, name, value, body, instance)
        if rule.rule in ("path_segments", "refused_value"):
            return value_error(rule, str(value))
        if rule.rule == "config_types":
            return config_type_error(value, self.profile.apps.outpost_defaults.get("config", {}), rule.message)
        if rule.rule == "reserved":
            return rule.message.format(value=value) if value in rule.when.get("values", []) else None
        if rule.rule == "one_of":  # a transport's email template (2026 directory 398)
            return rule.message.format(value=value) if value not in rule.when.get("values", []) else None
        check = VALUE_CHECKS.get(rule.rule)
        error = check(value) if check else None
        return rule.message.format(error=error, value=value) if error is not None else None

    def stateful_error(self, rule: ObjectRule, kind: Kind, name: str, value: Any, body: Mapping[str, Json],
                       instance: ObjectId | None) -> str | None:
        """The rules that read the stored objects, the profile or the request as sent."""
        if rule.rule == "python_syntax":
            filename = rule.create_name if instance is None else str(self.store.values[kind.name][instance]["name"])
            error = syntax_error(str(value), filename)
            return rule.message.format(error=error) if error else None
        if rule.rule == "file_name":
            return files.file_name_error(str(value), self.profile.flow_background["messages"])
        if rule.rule in ("not_self", "single_true"):
            return self.instance_error(rule, kind, name, value, instance)
        if rule.rule == "nonempty_unless":
            return self.empty_unless_stored(rule, kind, value, instance)
        # nonempty_when: read from the request as sent (the validator reads initial_data)
        return rule.message if not value and all(body.get(k) == v for k, v in rule.when.items()) else None

    def instance_error(self, rule: ObjectRule, kind: Kind, name: str, value: Any,
                       instance: ObjectId | None) -> str | None:
        """The rules that compare the value with the object written or its siblings: a 2023 group
        as its own parent (directory 50), a second default brand or tenant (207)."""
        if rule.rule == "not_self":
            return rule.message if instance is not None and str(value) == str(instance) else None
        taken = any(other != instance and values.get(name) is True
                    for other, values in self.store.values[kind.name].items())
        return rule.message if value is True and taken else None

    def empty_unless_stored(self, rule: ObjectRule, kind: Kind, value: Any, instance: ObjectId | None) -> str | None:
        """An empty list, unless the object stored is as `when` says (the embedded outpost may
        serve no provider: apps 485; source reading of validate_providers)."""
        stored = {**self.store.held.get(instance, {}), **self.store.values[kind.name][instance]} \
            if instance is not None else {}
        return rule.message if value == [] and any(stored.get(k) != v for k, v in rule.when.items()) else None

    # -- unique-together validators -------------------------------------------------------------
    def together_errors(self, kind: Kind, attrs: Mapping[str, Json], instance: ObjectId | None) -> list[str]:
        """DRF's UniqueTogetherValidator: fields a partial update leaves out are taken from the
        instance (flows 97), and a set holding a null is never checked (group and user policy
        bindings, flows 269)."""
        errors = []
        stored = self.store.values[kind.name].get(instance or "", {})
        for rule in self.profile.rules_of(kind.name, "unique_together"):
            wanted = [attrs[f] if f in attrs else stored.get(f) for f in rule.fields]
            if None in wanted:
                continue
            taken = any(other != instance and [values.get(f) for f in rule.fields] == wanted
                        for other, values in self.store.values[kind.name].items())
            if taken:
                errors.append(UNIQUE_TOGETHER.format(fields=", ".join(rule.fields)))
        return errors

    def body_errors(self, kind: Kind, attrs: Mapping[str, Json], instance: ObjectId | None) -> dict[str, list[str]]:
        """validate() checks that report under a field, by rule (`BODY_CHECKS`): the first one that
        fails, as validate() raises it (2026 LDAP: the users message alone when the groups one
        fails too, checked on the lab)."""
        for rule in self.profile.rules_of(kind.name):
            check = BODY_CHECKS.get(rule.rule)
            found = check(self, kind, rule, attrs, instance) if check else None
            if found is not None:
                return {found[0]: [found[1]]}
        return {}

    def required_when(self, kind: Kind, rule: ObjectRule, attrs: Mapping[str, Json],
                      instance: ObjectId | None) -> tuple[str, str] | None:
        """The `fields` must be non-empty in the body when its values (or `missing` ones) match
        `when` (apps 273, 280, 284, 498)."""
        if not all(key in attrs or key in rule.missing for key in rule.when):
            return None
        if any(attrs.get(key, rule.missing.get(key)) != wanted for key, wanted in rule.when.items()):
            return None
        return None if all(attrs.get(name) for name in rule.fields) else (rule.error_field or rule.fields[0],
                                                                            rule.message)

    def unique_value(self, kind: Kind, rule: ObjectRule, attrs: Mapping[str, Json],
                     instance: ObjectId | None) -> tuple[str, str] | None:
        """A one-to-one field: another object holds the value (apps 389)."""
        taken = any(attrs.get(name) is not None and any(
            pk != instance and values.get(name) == attrs[name] for pk, values in self.store.values[kind.name].items())
            for name in rule.fields)
        return (rule.fields[0], rule.message) if taken else None

    def single_true(self, kind: Kind, rule: ObjectRule, attrs: Mapping[str, Json],
                    instance: ObjectId | None) -> tuple[str, str] | None:
        """`single_true` of a write without the field, which validate() reads as `missing` says
        (2023 LDAP password sync: a missing one is true, directory 320, 321, 323); a write with it
        is checked as the field's own rule (`stateful_error`)."""
        name = rule.fields[0]
        if name in attrs or rule.missing.get(name) is not True:
            return None
        taken = any(pk != instance and values.get(name) is True for pk, values in self.store.values[kind.name].items())
        return (name, rule.message) if taken else None

    def kinds_for(self, kind: Kind, rule: ObjectRule, attrs: Mapping[str, Json],
                  instance: ObjectId | None) -> tuple[str, str] | None:
        """An outpost of one type serves providers of one kind (apps 464, 473): `when` maps the
        type to the kind; checked when the body carries both."""
        choice, targets = (attrs.get(name) for name in rule.fields[:2])
        if choice is None or not isinstance(targets, list):
            return None
        for target in targets:
            other = self.store.kind_at(target)
            if other is not None and other.name != rule.when.get(str(choice)):
                return rule.fields[1], rule.message.format(value=choice, model=other.model)
        return None

    def fixed_when(self, kind: Kind, rule: ObjectRule, attrs: Mapping[str, Json],
                   instance: ObjectId | None) -> tuple[str, str] | None:
        """A field an object matching `when` keeps (the embedded outpost's name, apps 478)."""
        if rule.fields[0] not in attrs or instance is None:
            return None
        stored = self.store.values[kind.name][instance]
        changed = stored.get(rule.fields[0]) != attrs[rule.fields[0]]
        matches = all(stored.get(key) == wanted for key, wanted in rule.when.items())
        return (rule.fields[0], rule.message) if changed and matches else None

    def enterprise_value(self, kind: Kind, rule: ObjectRule, attrs: Mapping[str, Json],
                         instance: ObjectId | None) -> tuple[str, str] | None:
        """A value only a licence allows (apps 321, 330): anything but null and the `missing` ones."""
        if self.enterprise:
            return None
        licensed = any(attrs[name] not in (None, *rule.missing.get(name, [None])) for name in rule.fields
                       if name in attrs)
        return (rule.fields[0], rule.message) if licensed else None

    def server_fault(self, kind: Kind, body: Mapping[str, Json], creating: bool) -> bool:
        """A request the server's own code fails on before DRF checks it: an outpost `type` that
        is no choice (`KeyError`, apps 471), a Kubernetes connection created without kubeconfig
        (NOT NULL, 495) or given one without `local` (`KeyError`, 496), a lifecycle rule's unknown
        content type (`ContentType.DoesNotExist`, directory 475)."""
        return any(self.faults(rule, body, creating) for rule in self.profile.rules_of(kind.name))

    def faults(self, rule: ObjectRule, body: Mapping[str, Json], creating: bool) -> bool:
        if rule.rule == "fails_unless":
            return any(name in body and body[name] not in rule.when.get("values", []) for name in rule.fields)
        if rule.rule == "create_needs":
            return creating and any(name not in body for name in rule.fields)
        if rule.rule == "fails_without":
            return rule.fields[0] in body and any(name not in body for name in rule.fields[1:])
        if rule.rule == "content_type":
            return rule.fields[0] in body and not self.lifecycle.known(body[rule.fields[0]])
        return False

    # -- validate() -----------------------------------------------------------------------------
    def validate(self, kind: Kind, attrs: Mapping[str, Json], instance: ObjectId | None = None) -> str | None:
        """The first error the serializer's validate() raises; `attrs` holds only what the request
        sent, so these checks never see the stored values (08, 17; flows 101, 184, 262), except
        the refusal to touch an internal service account (directory 106)."""
        stored = self.store.values[kind.name].get(instance) if instance is not None else None
        for rule in self.profile.rules_of(kind.name, "stored_refuses"):
            if stored is not None and stored.get(rule.fields[0]) == rule.when["value"]:
                return rule.message
        kind_type = self.profile.stage_type(kind.model)
        licensed = self.store.model.target_of(kind) not in self.profile.apps.unlicensed_targets
        if not self.enterprise and licensed and kind_type and kind_type.get("requires_enterprise"):
            return ENTERPRISE_ERROR
        for rule in self.profile.rules_of(kind.name):
            error = self.apply(rule, attrs) or self.type_urls(rule, attrs, stored)
            if error:
                return error
        return None

    def type_urls(self, rule: ObjectRule, attrs: Mapping[str, Json], stored: Mapping[str, Json] | None) -> str | None:
        """An OAuth source whose provider type (the body's, else the stored one) has no fixed URL
        must carry that URL in the body, even when one is stored (directory 271, 273; 276 with all
        three). The types are the recorded `/sources/oauth/source_types/` answer. A body with a
        well-known URL is let through: the server fills the URLs from the document it fetches (280),
        which the sandbox does not fetch."""
        if rule.rule != "type_urls" or attrs.get(rule.when["fetched"]):
            return None
        name = attrs.get(rule.error_field, (stored or {}).get(rule.error_field))
        fixed = self.profile.fixed.get(rule.when["types"])
        provider = next((entry for entry in fixed if isinstance(entry, dict) and
                         name in (entry.get("name"), entry.get("slug"))), None) if isinstance(fixed, list) else None
        if provider is None:
            return None
        label = provider.get("verbose_name", provider.get("name"))
        missing = (url for url in rule.fields if provider.get(url) is None and url not in attrs)
        return next((rule.message.format(url=url, type=label) for url in missing), None)

    @staticmethod
    def apply(rule: ObjectRule, attrs: Mapping[str, Json]) -> str | None:
        if rule.rule == "needs" or rule.needs:
            needed = rule.fields if rule.rule == "needs" else rule.needs
            if any(name not in attrs for name in needed):
                raise ServerFault(rule.kind)
        if rule.rule == "one_truthy":
            return rule.message if one_missing(rule, attrs) else None
        elif rule.rule == "exactly_one":
            count = sum(1 for name in rule.fields if attrs.get(name))
            if count > 1:
                return rule.many_message
            if count < 1:
                return rule.message
        return None


def one_missing(rule: ObjectRule, attrs: Mapping[str, Json]) -> bool:
    """None of the rule's fields is true (missing ones read as `missing` says), where the body
    sets every field of `when` (a SAML signing key pair, apps 251)."""
    applies = all(attrs.get(name) for name in rule.when)
    return applies and not any(attrs.get(name, rule.missing.get(name)) for name in rule.fields)


def config_type_error(config: Json, defaults: Mapping[str, Json], message: str) -> str | None:
    """An outpost config value of another type than the default config's (apps 469: the config is
    a typed dataclass); keys without a typed default are not checked."""
    for key, value in config.items() if isinstance(config, dict) else ():
        default = defaults.get(key)
        if default is not None and type(value) is not type(default):
            return message.format(field=key, type=type(default).__name__, value=value,
                                  given=type(value).__name__)
    return None


def unnamed_syntax_error(value: Json) -> str | None:
    """A property mapping's expression, compiled without a file name (apps 160: `(None, line 2)`)."""
    return syntax_error(str(value), "None")


def spaces(value: Json) -> str | None:
    return "" if " " in str(value) else None


def not_a_dict(value: Json) -> str | None:
    return None if isinstance(value, dict) else ""


def unreadable_certificate(value: Json) -> str | None:
    return "certificate_data" if certificates.pem_error(value, None) else None


def unreadable_key(value: Json) -> str | None:
    return "key_data" if certificates.pem_error(None, value) else None


def bad_regex(value: Json) -> str | None:
    """The first `regex` redirect URI that does not compile (apps 201)."""
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and item.get("matching_mode") == "regex":
            try:
                re.compile(str(item.get("url")))
            except re.error:
                return str(item.get("url"))
    return None


TIMEDELTA_UNITS = {"weeks", "days", "hours", "minutes", "seconds", "milliseconds", "microseconds"}


def not_a_timedelta(value: Json) -> str | None:
    """authentik's `timedelta_string_validator`: `unit=number` pairs joined by `;` (apps 223)."""
    for part in str(value).split(";"):
        unit, _, amount = part.strip().partition("=")
        try:
            float(amount)
        except ValueError:
            return ""
        if unit.strip() not in TIMEDELTA_UNITS:
            return ""
    return None


def empty_list(value: Json) -> str | None:
    return "" if value == [] else None


def config_interval(value: Json) -> str | None:
    """An outpost config's `refresh_interval` that is no duration (2026 apps 468)."""
    interval = value.get("refresh_interval") if isinstance(value, dict) else None
    return str(interval) if interval is not None and not_a_timedelta(interval) is not None else None


def bad_kubeconfig(value: Json) -> str | None:
    """A kubeconfig that is neither empty (a local cluster) nor names clusters, contexts and
    users (apps 499)."""
    if value == {} or (isinstance(value, dict) and all(key in value for key in ("clusters", "contexts", "users"))):
        return None
    return ""


STATEFUL_RULES = ("python_syntax", "file_name", "not_self", "single_true", "nonempty_when", "nonempty_unless")
"""Field rules whose check reads more than the value (`Rules.stateful_error`)."""
VALUE_CHECKS: dict[str, Callable[[Json], str | None]] = {
    "kubeconfig": bad_kubeconfig,
    "nonempty": empty_list,
    "config_interval": config_interval,
    "timedelta": not_a_timedelta,
    "mapping_syntax": unnamed_syntax_error,
    "no_spaces": spaces,
    "dict": not_a_dict,
    "certificate_pem": unreadable_certificate,
    "private_key_pem": unreadable_key,
    "regex_items": bad_regex,
}
"""Checks of one value (field validators of the apps kinds): the error text the rule's message
takes as `{error}`, or None (a dispatch table by rule name)."""


def value_error(rule: ObjectRule, value: str) -> str | None:
    """A user path without leading, trailing or doubled slashes (directory 74, 75); a value a
    create or update may not set (78)."""
    if rule.rule == "refused_value":
        return rule.message if value == rule.when["value"] else None
    if value.startswith("/") or value.endswith("/"):
        return rule.message
    return rule.many_message if "//" in value else None


def syntax_error(expression: str, filename: str) -> str | None:
    """Compile the expression the way authentik's evaluator wraps it, in a function body, so line
    numbers are one more than the user's (flows 208: `(temp-policy, line 2)`)."""
    wrapped = "def handler():\n" + textwrap.indent(expression, "    ") + "\nresult = handler()"
    try:
        compile(wrapped, filename, "exec")
    except (SyntaxError, ValueError) as exc:
        return str(exc)
    return None


BodyCheck = Callable[[Rules, Kind, ObjectRule, Mapping[str, Json], ObjectId | None], tuple[str, str] | None]
BODY_CHECKS: dict[str, BodyCheck] = {
    "required_when": Rules.required_when,
    "unique_value": Rules.unique_value,
    "single_true": Rules.single_true,
    "kinds_for": Rules.kinds_for,
    "fixed_when": Rules.fixed_when,
    "enterprise_value": Rules.enterprise_value,
    "object_exists": lambda rules, kind, rule, attrs, instance: rules.lifecycle.object_missing(rule, attrs, instance),
    "needs_reviewer": lambda rules, kind, rule, attrs, instance: rules.lifecycle.no_reviewer(rule, attrs, instance),
    "not_longer": lambda rules, kind, rule, attrs, instance: rules.lifecycle.grace_too_long(rule, attrs, instance),
    "type_wide": lambda rules, kind, rule, attrs, instance: rules.lifecycle.second_type_wide(rule, attrs, instance),
}
"""validate() checks reporting (field, message), by rule name (a dispatch table)."""
